"""Engine parameter schemas: recorded from the engines' own parsers, checked against them
where the engine is installed, and rendered as each engine spells its flags."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from autotuner.runtimes import (
    DeployRequest,
    LocalRuntime,
    SimRuntime,
    engine_arg_problems,
    engine_extra,
    parameter_problems,
)
from autotuner.runtimes.schemas import get_schema, recorded_schema, schema_args
from autotuner.runtimes.schemas._load import DUMP_SCRIPT, recorded_document

VLLM_PYTHON = Path.home() / ".cache" / "autotuner" / "vllm-venv" / "bin" / "python"


def _dump(python: str, engine: str) -> dict[str, object]:
    done = subprocess.run(
        [python, str(DUMP_SCRIPT), engine], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    document: dict[str, object] = json.loads(done.stdout)
    return document


def test_each_recorded_list_names_its_engine_version_and_source() -> None:
    expected = {"vllm": "0.32.0", "sglang": "0.5.23", "llama.cpp": "0.3.36"}
    for engine, version in expected.items():
        schema = recorded_schema(engine)
        assert (schema.engine, schema.version) == (engine, version)
        assert schema.source and not schema.live
    vllm, sglang, llama = (recorded_schema(e) for e in expected)
    assert vllm.flags["enable-prefix-caching"].bool_style == "optional"
    assert vllm.flags["max-num-seqs"].type == "int"
    assert vllm.flags["gpu-memory-utilization"].type == "float"
    assert vllm.flags["max-model-len"].text  # takes "auto" and "32k" too
    assert vllm.lookup("tp") is vllm.flags["tensor-parallel-size"]  # its -tp
    assert vllm.lookup("Max_Num_Seqs") is vllm.flags["max-num-seqs"]
    assert sglang.flags["disable-radix-cache"].bool_style == "store_true"
    assert sglang.lookup("tensor-parallel-size") is sglang.flags["tp-size"]
    assert "lpm" in (sglang.flags["schedule-policy"].choices or ())
    assert llama.flags["flash_attn"].bool_style == "value"
    assert llama.flags["n_ctx"].type == "int"


@pytest.mark.skipif(not VLLM_PYTHON.exists(), reason="vLLM's venv is not installed (make engines)")
def test_the_recorded_vllm_list_is_what_the_installed_vllm_parses() -> None:
    live = _dump(str(VLLM_PYTHON), "vllm")
    recorded = recorded_document("vllm")
    if live["version"] != recorded["version"]:
        pytest.skip(f"installed vLLM {live['version']}, recorded {recorded['version']}")
    assert live["source"] == recorded["source"]
    assert live["flags"] == recorded["flags"]


@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed"
)
def test_the_recorded_llama_cpp_list_is_what_the_installed_server_parses() -> None:
    # Not imported here: llama_cpp loads its native library into the process it is in.
    live = _dump(sys.executable, "llama.cpp")
    recorded = recorded_document("llama.cpp")
    assert live["version"] == recorded["version"]
    assert live["flags"] == recorded["flags"]
    # Installed in this interpreter: its parser is the source of truth.
    assert get_schema("llama.cpp").live


def test_vllm_booleans_render_as_its_parser_takes_them() -> None:
    vllm = recorded_schema("vllm")
    args = schema_args(
        vllm,
        {
            "enable-prefix-caching": False,
            "enforce_eager": True,
            "tp": 2,
            "max-model-len": "auto",
            "max-num-batched-tokens": 512.0,
        },
    )
    assert args == [
        "--no-enable-prefix-caching",
        "--enforce-eager",
        "--tensor-parallel-size",
        "2",
        "--max-model-len",
        "auto",
        "--max-num-batched-tokens",
        "512",
    ]
    assert schema_args(vllm, {"enable-prefix-caching": True}) == ["--enable-prefix-caching"]
    assert schema_args(vllm, {"disable-log-stats": False}) == []  # store_true: its default


def test_sglang_store_true_flags_are_given_or_left_out() -> None:
    sglang = recorded_schema("sglang")
    assert schema_args(sglang, {"disable-radix-cache": True}) == ["--disable-radix-cache"]
    # Left out is the flag's false: argparse's default for a store_true flag.
    assert schema_args(sglang, {"disable-radix-cache": False}) == []
    assert schema_args(sglang, {"tensor_parallel_size": 2, "mem-fraction-static": 0.8}) == [
        "--tp-size",
        "2",
        "--mem-fraction-static",
        "0.8",
    ]


def test_preset_commands_per_engine(tmp_path: Path) -> None:
    def command(engine: str, **parameters: object) -> list[str]:
        request = DeployRequest("t", 1, engine, "m", dict(parameters), tmp_path)
        return LocalRuntime(engine).build_command(request, "127.0.0.1", 9)

    vllm = command("vllm", **{"max-num-seqs": 8, "enable-prefix-caching": False})
    assert vllm[-3:] == ["--max-num-seqs", "8", "--no-enable-prefix-caching"]
    sglang = command("sglang", **{"max-running-requests": 8, "enable-mixed-chunk": False})
    assert sglang[-2:] == ["--max-running-requests", "8"]
    # llama.cpp's own spellings are translated; booleans are written as values.
    llama = command("llama.cpp", **{"ctx-size": 512, "flash-attn": False, "ctk": "q8_0"})
    assert llama[-6:] == ["--n_ctx", "512", "--flash_attn", "false", "--type_k", "8"]


def test_the_simulator_gets_the_flags_of_the_engine_it_imitates(tmp_path: Path) -> None:
    def command(engine: str, **parameters: object) -> list[str]:
        request = DeployRequest("t", 1, engine, "m", dict(parameters), tmp_path)
        return SimRuntime().build_command(request, "127.0.0.1", 9)

    assert command("vllm", **{"enable-chunked-prefill": False, "sim-time-scale": 0.5})[-5:] == [
        "--sim-engine",
        "vllm",
        "--no-enable-chunked-prefill",
        "--sim-time-scale",
        "0.5",
    ]
    assert command("sglang", tp=2)[-4:] == ["--sim-engine", "sglang", "--tp", "2"]


@pytest.mark.parametrize(
    ("mode", "engine", "name", "value", "words"),
    [
        ("local", "vllm", "mem-fraction-static", 0.9, "spelling of this setting is 'gpu-memory"),
        ("local", "vllm", "tp-size", 2, "'tensor-parallel-size'"),
        ("sim", "vllm", "max-running-requests", 8, "'max-num-seqs'"),
        ("local", "vllm", "chunked-prefill-size", 512, "'max-num-batched-tokens'"),
        ("local", "vllm", "context-length", 512, "'max-model-len'"),
        ("local", "vllm", "disable-radix-cache", True, "'enable-prefix-caching' (inverted"),
        ("local", "sglang", "gpu-memory-utilization", 0.9, "'mem-fraction-static'"),
        ("sim", "sglang", "tensor-parallel-sizes", 2, "did you mean 'tp-size'"),
        ("sim", "sglang", "max-num-seqs", 2, "'max-running-requests'"),
        ("local", "sglang", "max-model-len", 512, "'context-length'"),
        ("local", "llama.cpp", "max-model-len", 512, "'n_ctx'"),
        ("local", "vllm", "max-num-seq", 8, "did you mean 'max-num-seqs'"),
        ("local", "vllm", "frobnicate", 1, "not a flag of vllm 0.32.0"),
        ("local", "vllm", "max-num-seqs", "eight", "takes an integer, not 'eight'"),
        ("local", "vllm", "gpu-memory-utilization", "high", "takes a number"),
        ("local", "vllm", "enable-prefix-caching", "no", "takes true or false"),
        ("local", "vllm", "dtype", "float8", "takes one of auto, bfloat16"),
        ("local", "vllm", "max-num-seqs", True, "give an integer"),
        ("sim", "vllm", "sim-speed", 1, "not a knob of the simulator"),
        ("local", "llama.cpp", "n_ctx", "big", "takes an integer"),
    ],
)
def test_unknown_flags_and_wrong_values_are_named(
    mode: str, engine: str, name: str, value: object, words: str
) -> None:
    problems = parameter_problems(mode, engine, {name: [value]})
    assert list(problems) == [name]
    assert words in problems[name], problems[name]


def test_right_flags_and_values_pass() -> None:
    vllm = {"max-num-seqs": [1, 8], "max-model-len": ["auto", 512], "tp": [1], "seed": [0]}
    vllm |= {"enable-prefix-caching": [True, False], "gpu_memory_utilization": [0.5, 1]}
    assert parameter_problems("local", "vllm", vllm) == {}
    sglang = {"schedule-policy": ["lpm", "fcfs"], "chunked-prefill-size": [-1, 512]}
    assert parameter_problems("sim", "sglang", sglang) == {}
    llama = {"ctx-size": [512], "ngl": [0], "fa": [True], "type_k": ["q8_0", 1]}
    assert parameter_problems("local", "llama.cpp", llama) == {}
    # A custom command template may start another engine: only owned flags are checked.
    assert parameter_problems("local", "vllm", {"anything": [1]}, custom_command=True) == {}


def test_engine_args_are_checked_like_parameters() -> None:
    args = ["--dtype", "bfloat16", "--port=1", "--tp-size", "2", "--max-num-seqs", "4", "-q", "x"]
    problems = engine_arg_problems("local", "vllm", args, ["max_num_seqs"])
    assert set(problems) == {2, 3, 5}
    assert "sets itself" in problems[2]
    assert "'tensor-parallel-size'" in problems[3]
    assert "tuned in parameters" in problems[5]
    assert engine_arg_problems("sim", "vllm", ["--sim-load-time", "1", "-1"]) == {}
    assert engine_arg_problems("local", "vllm", ["--x"], custom_command=True) == {}


def test_engine_env_and_args_reach_the_engine_process(tmp_path: Path) -> None:
    import asyncio

    import psutil

    from autotuner.domain import EngineSpec

    engine = EngineSpec(env={"ENGINE_TEST_MARK": "42"}, args=["--block-size", "16"])
    request = DeployRequest(
        "env", 1, "vllm", "sim-env-1B", {}, tmp_path, timeout=30,
        extra=engine_extra(engine, allow_custom=False),
    )  # fmt: skip

    async def run() -> None:
        deployment = await SimRuntime().deploy(request)
        try:
            assert deployment.command[-2:] == ["--block-size", "16"]
            environ = psutil.Process(deployment.pid).environ()
            assert environ["ENGINE_TEST_MARK"] == "42"
        finally:
            await deployment.stop()

    asyncio.run(run())


@pytest.mark.skipif(not VLLM_PYTHON.exists(), reason="vLLM's venv is not installed (make engines)")
def test_an_installed_vllm_is_the_source_of_truth(tmp_path: Path) -> None:
    schema = get_schema("vllm", str(VLLM_PYTHON), tmp_path)
    assert schema.live and schema.version == recorded_schema("vllm").version
    problems = parameter_problems(
        "local", "vllm", {"mem-fraction-static": [0.5]}, engine_python=str(VLLM_PYTHON)
    )
    assert "(its argument parser)" in problems["mem-fraction-static"]


def test_an_interpreter_without_the_engine_falls_back_to_the_recorded_list() -> None:
    # This interpreter has no vLLM: the recorded list answers.
    schema = get_schema("vllm", sys.executable)
    assert not schema.live and schema.version == "0.32.0"


@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed"
)
def test_another_installed_version_is_read_from_its_parser_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autotuner.runtimes.schemas import _load
    from autotuner.runtimes.schemas._schema import EngineSchema

    real = recorded_schema("llama.cpp")
    older = EngineSchema("llama.cpp", "0.0.1", real.source, {}, live=False)
    monkeypatch.setattr(_load, "recorded_schema", lambda engine: older)
    schema = _load.live_schema("llama.cpp", sys.executable, tmp_path)
    assert schema is not None and schema.live and schema.version == real.version
    assert schema.lookup("ctx_size") is None and schema.lookup("n_ctx") is not None
    (cached,) = tmp_path.iterdir()
    assert json.loads(cached.read_text())["flags"] == recorded_document("llama.cpp")["flags"]
    monkeypatch.setattr(_load, "dump_live", lambda engine, python: pytest.fail("dumped twice"))
    again = _load.live_schema("llama.cpp", sys.executable, tmp_path)
    assert again is not None and set(again.flags) == set(schema.flags)


_PARSE_WITH_VLLM = """
import json, sys
from vllm.entrypoints.launchers.cli_args import make_arg_parser
from vllm.utils.argparse_utils import FlexibleArgumentParser
args = make_arg_parser(FlexibleArgumentParser()).parse_args(json.loads(sys.argv[1]))
print(json.dumps({k: v for k, v in vars(args).items() if k in json.loads(sys.argv[2])}))
"""


@pytest.mark.skipif(not VLLM_PYTHON.exists(), reason="vLLM's venv is not installed (make engines)")
def test_vllms_own_parser_reads_the_rendered_flags_as_meant(tmp_path: Path) -> None:
    parameters = {
        "enable-prefix-caching": False,
        "enforce_eager": True,
        "tp": 1,
        "max-num-seqs": 8,
        "max-model-len": 512,
        "gpu-memory-utilization": 0.5,
        "dtype": "bfloat16",
    }
    request = DeployRequest("t", 1, "vllm", "/models/smollm2", parameters, tmp_path)
    command = LocalRuntime("vllm").build_command(request, "127.0.0.1", 9)
    # What follows the launcher (`python -m ...api_server` or `vllm serve MODEL`).
    flags = command[command.index("--host") :]
    dests = ["enable_prefix_caching", "enforce_eager", "tensor_parallel_size", "max_num_seqs"]
    dests += ["max_model_len", "gpu_memory_utilization", "dtype", "port"]
    done = subprocess.run(
        [str(VLLM_PYTHON), "-c", _PARSE_WITH_VLLM, json.dumps(flags), json.dumps(dests)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    parsed = json.loads(done.stdout.strip().splitlines()[-1])
    assert parsed == {
        "enable_prefix_caching": False,
        "enforce_eager": True,
        "tensor_parallel_size": 1,
        "max_num_seqs": 8,
        "max_model_len": 512,
        "gpu_memory_utilization": 0.5,
        "dtype": "bfloat16",
        "port": 9,
    }


_PARSE_WITH_LLAMA_CPP = """
import argparse, json, sys
from llama_cpp.server.cli import add_args_from_model
from llama_cpp.server.settings import ModelSettings, ServerSettings
parser = argparse.ArgumentParser()
add_args_from_model(parser, ModelSettings)
add_args_from_model(parser, ServerSettings)
args = parser.parse_args(json.loads(sys.argv[1]))
print(json.dumps({k: v for k, v in vars(args).items() if k in json.loads(sys.argv[2])}))
"""


@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed"
)
def test_llama_cpp_servers_own_parser_reads_the_rendered_flags_as_meant(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + bytes(16))
    parameters = {"ctx-size": 512, "flash-attn": False, "use_mmap": True, "ctk": "q8_0", "t": 2}
    request = DeployRequest("t", 1, "llama.cpp", str(gguf), parameters, tmp_path)
    command = LocalRuntime("llama.cpp").build_command(request, "127.0.0.1", 9)
    flags = command[command.index("--model") :]
    dests = ["n_ctx", "flash_attn", "use_mmap", "type_k", "n_threads", "interrupt_requests"]
    done = subprocess.run(
        [sys.executable, "-c", _PARSE_WITH_LLAMA_CPP, json.dumps(flags), json.dumps(dests)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "n_ctx": 512,
        "flash_attn": False,
        "use_mmap": True,
        "type_k": 8,
        "n_threads": 2,
        "interrupt_requests": False,
    }
