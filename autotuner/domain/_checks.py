"""The bounds of a task spec and the validators that enforce them.

Whatever passes them can be stored on SQLite and PostgreSQL, serialized into
every event that carries the task, and run: integers within 64 bits, finite
floats, no NUL or lone surrogates, bounded nesting, sizes and names. Each
problem is reported with the field it is in, so a 422 names what to fix.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
)

# Bounds of a task spec. Whatever passes them can be stored on SQLite and
# PostgreSQL, serialized into every event that carries the task, and run.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 32  # nesting of free-form values (extra fields, additional_params)
MAX_TEXT = 1_000  # characters of a string value, name or path
MAX_DESCRIPTION = 10_000
MAX_PARAMETERS = 64
MAX_VALUES = 1_000  # per parameter
MAX_NAME = 100  # characters of a parameter name
MAX_LIST = 100  # traffic scenarios, concurrency levels, request rates
MAX_RATE = 1_000_000.0  # requests/s of an open-loop level
MAX_LEVELS = 200  # load levels of one experiment (scenarios x levels)
MAX_CONCURRENCY = 10_000
MAX_SECONDS = 7 * 24 * 3600.0
MAX_SPEC_BYTES = 256 * 1024  # the spec as stored (JSON), events carry it again

# task_name appears in logs, terminals and file names: one line of visible text.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_FLAG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_RUNTIME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored everywhere (None if it can)."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which PostgreSQL cannot store"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"contains a lone UTF-16 surrogate ({value[exc.start]!r}), which is not valid "
            "Unicode text"
        )
    return None


def clean_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(f"text {problem}")
    return value


def _int_problem(value: int) -> str | None:
    if not INT64_MIN <= value <= INT64_MAX:
        return f"integer {value} is outside the 64-bit range (-2^63 to 2^63-1)"
    return None


def _float_problem(value: float) -> str | None:
    if not math.isfinite(value):
        return f"{value} is not a number a task can use; give a finite number"
    return None


def _free_json(value: Any) -> Any:
    """Check a free-form value (an extra field) in one linear, non-recursive walk."""
    # Paths are linked (parent, step) pairs, spelled out only for the error.
    stack: list[tuple[Any, int, tuple[Any, ...] | None]] = [(value, 1, None)]
    while stack:
        item, depth, where = stack.pop()
        problem: str | None = None
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int):
            problem = _int_problem(item)
        elif isinstance(item, float):
            problem = _float_problem(item)
        elif isinstance(item, str):
            problem = text_problem(item)
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                problem = f"nests deeper than {MAX_DEPTH} levels"
            elif isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        problem = f"key {key!r} is not a string"
                    elif (key_problem := text_problem(key)) is not None:
                        problem = f"a key {key_problem}"
                    if problem is not None:
                        break
                    stack.append((child, depth + 1, (where, f".{key}")))
            else:
                stack.extend((child, depth + 1, (where, f"[{i}]")) for i, child in enumerate(item))
        else:
            problem = f"{type(item).__name__} is not a JSON value"
        if problem is not None:
            raise ValueError(f"{_spell(where)}: {problem}" if where else problem)
    return value


def _spell(where: tuple[Any, ...] | None) -> str:
    steps: list[str] = []
    while where is not None:
        where, step = where
        steps.append(step)
    path = "".join(reversed(steps)).lstrip(".")
    return path if len(path) <= 200 else path[:97] + "..." + path[-100:]


def _scalar(value: Any) -> Any:
    """A parameter value as given: refuse what no engine flag can carry, before the
    union could turn it into something else (2^64 into a float, say)."""
    problem: str | None = None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        problem = _int_problem(value)
    elif isinstance(value, float):
        problem = _float_problem(value)
    elif isinstance(value, str):
        problem = text_problem(value)
        if problem is None and len(value) > MAX_TEXT:
            problem = f"is longer than {MAX_TEXT} characters"
    else:
        problem = "a parameter value must be a string, a number or a boolean"
    if problem is not None:
        raise ValueError(problem)
    return value


def _parameter_name(name: str) -> str:
    """An engine flag name as a task gives it: ``tp-size``, ``n_ctx`` (no dashes)."""
    problem = text_problem(name)
    if problem is not None:
        raise ValueError(f"parameter name {problem}")
    if not name.strip():
        raise ValueError("parameter names must not be blank")
    if name.startswith("-"):
        bare = name.lstrip("-")
        raise ValueError(
            f"parameter {name!r}: write engine flags without their leading dashes "
            f"({bare!r}); autotuner adds them"
        )
    if "=" in name:
        raise ValueError(f"parameter {name!r}: a name cannot hold '='; put the values in the list")
    if len(name) > MAX_NAME:
        raise ValueError(f"parameter names are at most {MAX_NAME} characters")
    if not _FLAG_NAME.match(name):
        raise ValueError(
            f"parameter {name!r} is not an engine flag name: use letters, digits, '-' and '_' only"
        )
    return name


def runtime_name(value: str) -> str:
    if not _RUNTIME_NAME.match(value):
        raise ValueError(
            f"base_runtime {value!r} is not an engine name (e.g. vllm, sglang, llama.cpp): "
            "use letters, digits, '.', '-' and '_' only"
        )
    return value


Text = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(clean_text)]
FreeJson = Annotated[Any, AfterValidator(_free_json)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Scalar = Annotated[
    Annotated[str, Field(max_length=MAX_TEXT)] | Int64 | FiniteFloat | bool,
    Field(union_mode="smart"),
    BeforeValidator(_scalar),
]
ParameterName = Annotated[str, AfterValidator(_parameter_name)]
Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS)]
