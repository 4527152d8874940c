"""Engine parameter schemas: which flags vLLM, SGLang and llama.cpp accept, and how.

``get_schema(engine)`` gives an engine's ``EngineSchema``: read from the
installed engine's own argument parser when there is one (``python`` names its
interpreter), else the list recorded in ``data/`` with the version it came
from. ``parameter_problem`` says why a task parameter cannot go to that engine
(an unknown flag, with the engine's spelling of the same setting or close
matches; a value of the wrong type); ``schema_args`` renders parameters as the
engine's flags (canonical names, its boolean style).
"""

from __future__ import annotations

import importlib.metadata
import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from autotuner.runtimes._process import parameter_args
from autotuner.runtimes.schemas._load import (
    ENGINES,
    engine_key,
    live_schema,
    recorded_schema,
)
from autotuner.runtimes.schemas._schema import EngineSchema, Flag
from autotuner.runtimes.schemas.aliases import SAME_SETTING, Spelling, engine_spelling

logger = logging.getLogger(__name__)

Translate = Callable[[dict[str, Any]], dict[str, Any]]

_IN_PROCESS = {"llama.cpp": "llama-cpp-python", "sglang": "sglang"}
"""Engines the ``local`` presets run with this interpreter (``{python} -m ...``)."""


@cache
def get_schema(
    engine: str, python: str | None = None, cache_dir: Path | None = None
) -> EngineSchema:
    """``engine``'s schema: its installed parser's if ``python`` (default: this
    interpreter, for the engines the presets run with it) has the engine, else
    the recorded list. Cached per process."""
    key = engine_key(engine)
    if key is None:
        raise KeyError(f"no parameter schema for engine {engine!r}; known: {', '.join(ENGINES)}")
    recorded = recorded_schema(key)
    if python is None and key in _IN_PROCESS:
        # Cheap in-process check first: the same version needs no subprocess.
        try:
            version = importlib.metadata.version(_IN_PROCESS[key])
        except importlib.metadata.PackageNotFoundError:
            return recorded
        if version == recorded.version:
            return EngineSchema(key, version, recorded.source, recorded.flags, live=True)
        python = sys.executable
    if python is None:
        return recorded
    try:
        return live_schema(key, python, cache_dir) or recorded
    except RuntimeError as exc:
        logger.warning("%s; using the recorded list", exc)
        return recorded


def parameter_problem(
    schema: EngineSchema,
    name: str,
    values: Iterable[Any] = (),
    translate: Translate | None = None,
) -> str | None:
    """Why parameter ``name`` (with ``values``) cannot be passed to the engine.

    ``translate`` is a preset's name translation (llama.cpp's ``ctx-size`` ->
    ``n_ctx``), applied before the lookup. None when the parameter is fine.
    """
    flag = _flag(schema, name, translate)
    if flag is None:
        return unknown_flag_message(schema, name)
    for value in values:
        if translate is not None:
            value = next(iter(translate({name: value}).values()))
        problem = schema.value_problem(flag, value)
        if problem is not None:
            return f"parameter {name!r} (--{flag.name} of {schema.label}) {problem}"
    return None


def unknown_flag_message(schema: EngineSchema, name: str) -> str:
    """``'mem-fraction-static' is not a flag of vllm 0.32.0; ... 'gpu-memory-utilization'``."""
    where = "its argument parser" if schema.live else "the recorded list of its flags"
    message = f"parameter {name!r} is not a flag of {schema.label} ({where})"
    spelling = engine_spelling(name, schema.engine)
    if spelling is not None and schema.lookup(spelling.name) is not None:
        return f"{message}; {schema.engine}'s spelling of this setting is {spelling.hint()}"
    close = schema.close_matches(name)
    if close:
        return f"{message}; did you mean {' or '.join(repr(c) for c in close)}?"
    return message


def schema_args(
    schema: EngineSchema, parameters: Mapping[str, Any], translate: Translate | None = None
) -> list[str]:
    """The engine's flags for one configuration, canonical names in its boolean style.

    A name the schema does not know (a task stored before it was checked) is
    passed as written, for the engine to refuse with a message naming it.
    """
    args: list[str] = []
    for name, value in parameters.items():
        flag = _flag(schema, name, translate)
        if translate is not None:
            value = next(iter(translate({name: value}).values()))
        if flag is None:
            args += parameter_args({name: value}, bool_style=schema.unknown_bool_style)
            continue
        if isinstance(value, (list, tuple)):
            args += [flag.option, *(str(v) for v in value)]
        else:
            args += schema.render(flag, value)
    return args


def _flag(schema: EngineSchema, name: str, translate: Translate | None) -> Flag | None:
    if translate is not None:
        name = next(iter(translate({name: None})))
    return schema.lookup(name)


__all__ = [
    "ENGINES",
    "SAME_SETTING",
    "EngineSchema",
    "Flag",
    "Spelling",
    "engine_key",
    "engine_spelling",
    "get_schema",
    "live_schema",
    "parameter_problem",
    "recorded_schema",
    "schema_args",
    "unknown_flag_message",
]
