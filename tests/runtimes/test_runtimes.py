"""Runtimes start real engine processes and never leave one behind.

The contract every runtime keeps (deploy, stop, cancel, health timeout) is
``autotuner.testing.runtimes``, run in test_runtime_contract.py; here is what
each does beyond it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from autotuner.runtimes import (
    DeploymentError,
    DeployRequest,
    LocalRuntime,
    ProcessDeployment,
    SimRuntime,
    UnknownEngineError,
    UnsupportedDeploymentModeError,
    get_runtime,
    normalize_flag,
    parameter_args,
    parameter_problems,
    render_command,
)
from autotuner.runtimes._process import log_path_for


def _request(tmp_path: Path, **parameters: object) -> DeployRequest:
    return DeployRequest(
        task_name="rt test",
        experiment_id=3,
        base_runtime="sglang",
        model="sim-rt-1B",
        parameters=dict(parameters),
        log_dir=tmp_path / "logs",
        timeout=20,
    )


def _children() -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    ]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def test_sim_deploy_serves_and_stop_leaves_no_process(tmp_path: Path) -> None:
    request = _request(tmp_path, **{"max-running-requests": 4, "disable-cuda-graph": True})
    deployment = await SimRuntime().deploy(request)
    assert isinstance(deployment, ProcessDeployment)
    assert deployment.model_name == "sim-rt-1B"
    assert deployment.command[1:3] == ["-m", "autotuner.sim"]
    # The simulator imitates SGLang (the request's base_runtime) and gets its flags.
    assert deployment.command[-5:] == [
        "--sim-engine",
        "sglang",
        "--max-running-requests",
        "4",
        "--disable-cuda-graph",
    ]
    async with httpx.AsyncClient() as client:
        info = (await client.get(deployment.base_url + "/sim/info")).json()
    assert info["config"]["max_num_seqs"] == 4
    assert info["config"]["enforce_eager"] is True
    assert deployment.log_path is not None and deployment.log_path.exists()
    assert "autotuner simulator" in deployment.log_path.read_text()
    # The pidfile next to the log, for a reaper should this process be killed.
    assert deployment.pidfile == deployment.log_path.with_suffix(".pid")
    assert json.loads(deployment.pidfile.read_text())["pid"] == deployment.pid
    pid = deployment.pid
    await deployment.stop()
    await deployment.stop()  # idempotent
    assert not _alive(pid)
    assert not deployment.pidfile.exists()
    assert pid not in [p.pid for p in _children()]


async def test_out_of_memory_raises_deployment_error_with_log_tail(tmp_path: Path) -> None:
    before = {p.pid for p in _children()}
    with pytest.raises(DeploymentError, match="out of memory") as info:
        await SimRuntime().deploy(_request(tmp_path, **{"mem-fraction-static": 0.97}))
    assert "CUDA out of memory" in info.value.log_tail
    assert {p.pid for p in _children()} <= before
    assert list((tmp_path / "logs").glob("*.pid")) == []


_STUBBORN = """
import http.server, signal, subprocess, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'{"data": []}')
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


async def test_stop_kills_a_process_group_that_ignores_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "stubborn.py"
    script.write_text(_STUBBORN)
    request = _request(tmp_path)
    request.extra = {"command": f"{{python}} {script} {{port}}", "health_path": "/"}
    deployment = await LocalRuntime("vllm").deploy(request)
    family = [deployment.pid, *(p.pid for p in psutil.Process(deployment.pid).children())]
    assert len(family) == 2
    await deployment.stop(grace=0.5)
    assert not any(_alive(pid) for pid in family)


async def test_local_runtime_with_a_custom_template_discovers_the_model(tmp_path: Path) -> None:
    request = _request(tmp_path)
    request.extra = {
        "command": "{python} -m autotuner.sim --model {model} --served-model-name served "
        "--host {host} --port {port}"
    }
    deployment = await LocalRuntime("sglang").deploy(request)
    try:
        assert deployment.model_name == "served"
        assert deployment.command[0] == sys.executable
    finally:
        await deployment.stop()


def test_presets_render_copy_pasteable_commands(tmp_path: Path) -> None:
    # vLLM knows tp (its -tp); SGLang and llama.cpp do not, and a name the engine does
    # not know (refused at POST /api/tasks) is passed as written.
    request = _request(tmp_path, **{"tp": 2, "x y": "a b"})
    vllm = LocalRuntime("vllm").build_command(request, "127.0.0.1", 8000)
    assert "sim-rt-1B" in vllm
    assert render_command(vllm).endswith("--tensor-parallel-size 2 '--x y' 'a b'")
    sglang = LocalRuntime("sglang").build_command(request, "0.0.0.0", 9)
    assert sglang[1:5] == ["-m", "sglang.launch_server", "--model-path", "sim-rt-1B"]
    assert render_command(sglang).endswith("--tp 2 '--x y' 'a b'")
    llama = LocalRuntime("llama_cpp").build_command(request, "127.0.0.1", 9)
    assert llama[1:3] == ["-m", "llama_cpp.server"]
    assert llama[-4:] == ["--tp", "2", "--x y", "a b"]


def test_parameter_args() -> None:
    assert parameter_args({"a": 1, "b": True, "c": False, "--d": 0.5, "e": None}) == [
        "--a",
        "1",
        "--b",
        "--d",
        "0.5",
    ]


def test_get_runtime() -> None:
    assert isinstance(get_runtime("sim", "vllm"), SimRuntime)
    local = get_runtime("local", "llama.cpp")
    assert isinstance(local, LocalRuntime) and local.preset.name == "llama.cpp"
    for mode in ("docker", "ome"):
        with pytest.raises(UnsupportedDeploymentModeError, match="use 'sim'") as info:
            get_runtime(mode, "sglang")
        assert isinstance(info.value, ValueError)
    with pytest.raises(UnknownEngineError, match="vllm"):
        get_runtime("local", "tgi")


# ------------------------------------------------ what a task's parameters may not set


@pytest.mark.parametrize(
    ("mode", "engine", "owned"),
    [
        ("sim", "vllm", ["host", "port", "model", "model-path", "served-model-name"]),
        ("local", "vllm", ["host", "port", "model", "served-model-name", "config"]),
        ("local", "sglang", ["host", "port", "model-path", "model"]),
        (
            "local",
            "llama.cpp",
            ["host", "port", "model", "model_alias", "interrupt_requests", "config_file"],
        ),
    ],
)
def test_each_engine_refuses_the_flags_its_command_sets(
    tmp_path: Path, mode: str, engine: str, owned: list[str]
) -> None:
    # Every flag the preset writes on the command line is one a task may not tune.
    runtime = get_runtime(mode, engine)
    assert isinstance(runtime, LocalRuntime | SimRuntime)
    command = runtime.build_command(_request(tmp_path), "127.0.0.1", 9)
    written = {normalize_flag(a) for a in command if a.startswith("--")}
    problems = parameter_problems(mode, engine, [*written, *owned])
    assert set(problems) == written | set(owned), problems
    # However they are spelled, and abbreviated as argparse would accept them.
    spellings = ["--Host", "HOST", "served_model_name", "Model-Path", "po", "hos"]
    assert set(parameter_problems(mode, engine, spellings)) == set(spellings)


def test_tuned_engine_flags_are_not_reserved() -> None:
    names = ["tp", "max-num-seqs", "gpu_memory_utilization", "scheduling-policy", "sim-time-scale"]
    assert parameter_problems("sim", "vllm", names) == {}
    sglang = ["tp-size", "max-running-requests", "mem_fraction_static", "schedule-policy"]
    assert parameter_problems("sim", "sglang", [*sglang, "sim-num-gpus"]) == {}
    llama = ["ctx-size", "n_ctx", "c", "t", "n_threads", "ngl", "flash_attn", "type_k", "mlock"]
    assert parameter_problems("local", "llama.cpp", llama) == {}
    with pytest.raises(UnknownEngineError):
        parameter_problems("local", "tgi", ["x"])
    # docker/ome are refused when started; their engine's flags are checked already.
    assert set(parameter_problems("docker", "sglang", ["port", "tp-size"])) == {"port"}
    assert set(parameter_problems("ome", "someday", ["host", "tp-size"])) == {"host"}
    # ... against the engine's schema too.
    assert set(parameter_problems("docker", "vllm", ["tp-size", "max-num-seqs"])) == {"tp-size"}


def test_non_finite_numbers_never_reach_an_engine() -> None:
    for value in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(DeploymentError, match="finite"):
            parameter_args({"gpu-memory-utilization": value})
    assert parameter_args({"x": 1e308}) == ["--x", "1e+308"]


def test_log_files_stay_in_their_directory(tmp_path: Path) -> None:
    request = _request(tmp_path)
    request.task_name = "../" * 20 + "x" * 300
    path = log_path_for(request, "sim-../../../etc/" + "v" * 100)
    assert path.parent == request.log_dir
    assert len(path.name.encode()) <= 255 and "/" not in path.name
