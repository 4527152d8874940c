"""Engine flags the product owns, which a task's parameters must not set.

Each engine's command line carries flags autotuner sets itself: where the engine
listens (``--host``, ``--port``), what it serves (``--model``,
``--served-model-name``), and for some engines more (llama.cpp's
``--model_alias``). A parameter of the same name would be appended after them
and win (``"host": ["0.0.0.0"]`` would open the engine to every interface), so
such names are refused when a task is created. Engines parse their flags with
argparse, which also takes unambiguous abbreviations (``--hos`` for
``--host``), so a name that abbreviates an owned flag is refused too.

Names are compared normalised: case, leading dashes and ``-``/``_`` ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# Owned by every engine: how and where it listens (the runner reaches it over
# plain HTTP at host:port, without a key, at /), model identity, config files
# that could set any of these, and flags that make the engine exit at once.
COMMON_RESERVED = frozenset(
    {
        "host",
        "port",
        "uds",
        "root-path",
        "api-key",
        "ssl-keyfile",
        "ssl-certfile",
        "model",
        "model-path",
        "served-model-name",
        "config",
        "help",
        "version",
    }
)


def normalize_flag(name: str) -> str:
    """``--Served_Model-Name`` -> ``served-model-name``."""
    return name.strip().lstrip("-").lower().replace("_", "-")


def flag_of(arg: str) -> str | None:
    """The flag an argv item names (``--x=1`` -> ``--x``), or None for a value
    (``8``, ``-1.5``, ``bfloat16``)."""
    if not arg.startswith("-"):
        return None
    try:
        float(arg)
    except ValueError:
        return arg.partition("=")[0]
    return None


def reserved_problem(
    name: str,
    reserved: Iterable[str],
    translate: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> str | None:
    """Why the parameter ``name`` may not be tuned (None if it may).

    ``translate`` is the preset's name translation: the flag it produces is
    checked as well as the name as written.
    """
    owned = sorted(normalize_flag(flag) for flag in reserved)
    written = normalize_flag(name)
    flag = written
    if translate is not None:
        flag = normalize_flag(next(iter(translate({name: None}))))
    for key in dict.fromkeys((written, flag)):
        if key in owned:
            return (
                f"parameter {name!r} is the engine flag --{key}, which autotuner sets "
                f"itself; remove it (flags autotuner owns here: {_listed(owned)})"
            )
    if not flag:
        return None
    # argparse reads an unambiguous prefix as the whole flag.
    for owned_flag in owned:
        if owned_flag.startswith(flag):
            return (
                f"parameter {name!r} abbreviates the engine flag --{owned_flag}, which "
                f"autotuner sets itself; write the full name of the flag you mean "
                f"(flags autotuner owns here: {_listed(owned)})"
            )
    return None


def _listed(flags: list[str]) -> str:
    return ", ".join(f"--{f}" for f in flags)
