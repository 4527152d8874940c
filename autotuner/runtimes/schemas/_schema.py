"""One engine's flags as its own argument parser defines them: names, types, boolean style.

An ``EngineSchema`` answers three questions about a task parameter: is it a
flag of this engine (``lookup``, which also knows the parser's aliases and
``_``/``-`` spellings), is a value right for it (``value_problem``), and what
it becomes on the command line (``render``: always the canonical spelling).

Boolean styles, as the engines' parsers have them:

* ``optional`` (vLLM's ``BooleanOptionalAction``): true -> ``--x``, false -> ``--no-x``;
* ``store_true`` / ``store_false`` (most of SGLang's): true -> ``--x``; false ->
  nothing. Leaving such a flag out *is* its false (argparse's default for it),
  so a false value is expressed exactly, not dropped;
* ``value`` (llama-cpp-python's server): ``--x true`` / ``--x false``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from autotuner.runtimes._flags import normalize_flag

FLAG_TYPES = ("int", "float", "bool", "str")
BOOL_STYLES = ("optional", "store_true", "store_false", "value")


@dataclass(frozen=True)
class Flag:
    """One flag of an engine's parser."""

    name: str
    """Canonical spelling without dashes, as the engine's ``--help`` lists it."""
    type: str
    """``int``, ``float``, ``bool`` or ``str`` (what the parser converts the text to)."""
    bool_style: str | None = None
    """For ``bool`` flags: ``optional``, ``store_true``, ``store_false`` or ``value``."""
    choices: tuple[str, ...] | None = None
    nargs: str | int | None = None
    text: bool = False
    """A number flag that also takes words (vLLM's ``max-model-len: auto``, ``32k``)."""
    aliases: tuple[str, ...] = ()
    """Other option strings of the same flag, as written (``-tp``)."""

    @property
    def option(self) -> str:
        return "--" + self.name

    @classmethod
    def from_json(cls, name: str, entry: Mapping[str, Any]) -> Flag:
        kind = str(entry.get("type", "str"))
        style = entry.get("bool")
        if kind not in FLAG_TYPES or (style is not None and style not in BOOL_STYLES):
            raise ValueError(f"flag {name!r}: unknown type {kind!r} or boolean style {style!r}")
        choices = entry.get("choices")
        return cls(
            name=name,
            type=kind,
            bool_style=str(style) if style is not None else None,
            choices=tuple(str(c) for c in choices) if choices is not None else None,
            nargs=entry.get("nargs"),
            text=bool(entry.get("text", False)),
            aliases=tuple(str(a) for a in entry.get("aliases", ())),
        )


class EngineSchema:
    """The flags one engine version accepts, and where that list came from."""

    def __init__(
        self, engine: str, version: str, source: str, flags: Mapping[str, Flag], *, live: bool
    ) -> None:
        self.engine = engine
        self.version = version
        self.source = source
        """The parser the list was read from (``...EngineArgs.add_cli_args``)."""
        self.live = live
        """True when read from the installed engine now, False for the recorded list."""
        self.flags = dict(flags)
        self._index: dict[str, Flag] = {}
        for flag in self.flags.values():
            for spelling in (flag.name, *flag.aliases):
                self._index.setdefault(normalize_flag(spelling), flag)

    @property
    def unknown_bool_style(self) -> str:
        """How to write a boolean for a flag not in the list (``parameter_args``' style):
        ``value`` where the engine writes booleans as values (llama.cpp), else ``flag``."""
        if any(f.bool_style == "value" for f in self.flags.values()):
            return "value"
        return "flag"

    @classmethod
    def from_json(cls, document: Mapping[str, Any], *, live: bool) -> EngineSchema:
        flags = {name: Flag.from_json(name, e) for name, e in document["flags"].items()}
        return cls(
            str(document["engine"]),
            str(document["version"]),
            str(document.get("source", "")),
            flags,
            live=live,
        )

    @property
    def label(self) -> str:
        """``vllm 0.32.0`` - for messages."""
        return f"{self.engine} {self.version}"

    def lookup(self, name: str) -> Flag | None:
        """The flag ``name`` means (any alias, ``-``/``_``, case), or None."""
        return self._index.get(normalize_flag(name))

    def close_matches(self, name: str, n: int = 3) -> list[str]:
        """Canonical names spelled like ``name`` (difflib), best first."""
        key = normalize_flag(name)
        found = difflib.get_close_matches(key, list(self._index), n=n * 2, cutoff=0.75)
        names = [self._index[k].name for k in found]
        return list(dict.fromkeys(names))[:n]

    def value_problem(self, flag: Flag, value: Any) -> str | None:
        """Why ``value`` is not a value of ``flag`` (None if it is)."""
        if value is None:
            return None  # leaves the flag out
        if flag.type == "bool":
            if isinstance(value, bool):
                return None
            return f"takes true or false, not {value!r}"
        if isinstance(value, bool):
            return f"is not a boolean flag of {self.engine}; give {_what(flag)}, not {value!r}"
        if flag.choices is not None:
            if str(value) in flag.choices:
                return None
            return f"takes one of {', '.join(flag.choices)}; not {value!r}"
        if flag.type == "int":
            if isinstance(value, int) or (flag.text and isinstance(value, str)):
                return None
            if isinstance(value, float) and value.is_integer() and math.isfinite(value):
                return None
            return f"takes an integer, not {value!r}"
        if flag.type == "float":
            if isinstance(value, (int, float)) or (flag.text and isinstance(value, str)):
                return None
            return f"takes a number, not {value!r}"
        return None  # str: numbers are written as text

    def render(self, flag: Flag, value: Any) -> list[str]:
        """``flag`` set to ``value`` on the command line, in the engine's own style."""
        if value is None:
            return []
        if isinstance(value, bool) and flag.type == "bool":
            if flag.bool_style == "value":
                return [flag.option, "true" if value else "false"]
            if flag.bool_style == "optional":
                return [flag.option if value else "--no-" + flag.name]
            return [flag.option] if value else []
        if flag.type == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        return [flag.option, str(value)]


def _what(flag: Flag) -> str:
    return {"int": "an integer", "float": "a number", "str": "a text value"}.get(
        flag.type, "a value"
    )
