"""Flag parsing (the imitated engine's names) and the performance model, in process."""

from __future__ import annotations

import asyncio
import shlex

import pytest

from autotuner.sim.config import parse_args
from autotuner.sim.model import PerformanceModel, StartupError, StepCost, model_size_billions
from autotuner.sim.scheduler import Scheduler


def test_vllm_and_sglang_names_set_the_same_knobs() -> None:
    vllm = parse_args(
        shlex.split(
            "--max-num-seqs 32 --gpu-memory-utilization 0.8 --tensor-parallel-size 2 "
            "--max-num-batched-tokens 4096 --scheduling-policy priority"
        )
    )
    sglang = parse_args(
        shlex.split(
            "--sim-engine sglang --max-running-requests 32 --mem-fraction-static 0.8 "
            "--tp-size 2 --chunked-prefill-size 4096 --schedule-policy priority"
        )
    )
    for cfg in (vllm, sglang):
        assert cfg.max_num_seqs == 32
        assert cfg.gpu_memory_utilization == 0.8
        assert cfg.tensor_parallel_size == 2
        assert cfg.max_num_batched_tokens == 4096
        assert cfg.schedule_policy == "priority"
        assert cfg.enable_chunked_prefill


def test_underscores_booleans_and_flags_the_simulator_does_not_model() -> None:
    # --block-size is a vLLM flag the simulator does not model: ignored, as a log line says.
    cfg = parse_args(["--max_num_seqs=7", "--no-enable-chunked-prefill", "--block-size", "16"])
    assert cfg.max_num_seqs == 7
    assert cfg.enable_chunked_prefill is False
    assert cfg.ignored_flags == ["--block-size"]
    assert parse_args(["--enable-chunked-prefill"]).enable_chunked_prefill is True
    assert parse_args(["--no-enforce-eager"]).enforce_eager is False
    assert parse_args(["-tp", "2"]).tensor_parallel_size == 2
    sglang = ["--sim-engine", "sglang"]
    assert parse_args([*sglang, "--chunked-prefill-size", "-1"]).enable_chunked_prefill is False
    assert parse_args([*sglang, "--max-prefill-tokens", "512"]).max_num_batched_tokens == 512
    assert parse_args([*sglang, "--disable-cuda-graph"]).enforce_eager is True
    assert parse_args([*sglang, "--disable-radix-cache"]).ignored_flags == ["--disable-radix-cache"]


@pytest.mark.parametrize(
    ("engine", "argv", "refused"),
    [
        ("vllm", ["--mem-fraction-static", "0.8"], "--mem-fraction-static"),
        ("vllm", ["--tp-size", "2"], "--tp-size"),
        ("vllm", ["--max-running-requests", "8", "--chunked-prefill-size", "-1"], "--chunked"),
        ("sglang", ["--gpu-memory-utilization", "0.8"], "--gpu-memory-utilization"),
        ("sglang", ["--max-num-seqs", "8"], "--max-num-seqs"),
        ("vllm", ["--foo", "1"], "--foo"),
    ],
)
def test_another_engines_spelling_is_refused_as_that_engine_would(
    engine: str, argv: list[str], refused: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(["--sim-engine", engine, *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" in err
    assert refused in err
    assert f"not flags of {engine}" in err


def test_model_size_from_name() -> None:
    assert model_size_billions("Qwen/Qwen2.5-0.5B-Instruct") == 0.5
    assert model_size_billions("meta-llama/Llama-3.1-8B") == 8
    assert model_size_billions("llama-3-2-1b-instruct") == 1
    assert model_size_billions("my-model") == 7


def _model(*flags: str) -> PerformanceModel:
    return PerformanceModel(parse_args(["--model", "m-7B", *flags]))


def test_batching_raises_throughput_up_to_a_point_and_tpot_all_along() -> None:
    model = _model()
    step = {n: model._step_ms(StepCost(n, 0, 0, n * 200)) for n in (1, 8, 32, 128, 512)}
    throughput = {n: n / ms for n, ms in step.items()}
    assert throughput[1] < throughput[8] < throughput[32] < throughput[128]
    assert throughput[512] < throughput[128]
    assert step[1] < step[8] < step[32] < step[128] < step[512]


def test_tensor_parallelism_speeds_steps_with_overhead() -> None:
    one, four = _model(), _model("--tensor-parallel-size", "4")
    cost = StepCost(32, 0, 0, 6400)
    assert one._step_ms(cost) / 4 < four._step_ms(cost) < one._step_ms(cost)


def test_memory_fraction_sets_kv_capacity_and_low_fractions_fail() -> None:
    assert _model("--gpu-memory-utilization", "0.5").kv_tokens < _model().kv_tokens
    assert _model("--kv-cache-dtype", "fp8").kv_tokens == pytest.approx(2 * _model().kv_tokens, 1)
    with pytest.raises(StartupError, match="max seq len"):
        _model("--gpu-memory-utilization", "0.25").check_startup()
    with pytest.raises(StartupError, match="CUDA out of memory"):
        _model("--gpu-memory-utilization", "0.96").check_startup()


async def test_scheduler_runs_at_most_max_num_seqs_and_kv_allows() -> None:
    model = _model("--max-num-seqs", "3", "--sim-time-scale", "0.2")
    sched = Scheduler(model)
    loop_task = asyncio.create_task(sched.run())
    peak = 0
    try:
        seqs = [sched.submit(10, 5) for _ in range(7)]
        while not all(s.finished for s in seqs):
            peak = max(peak, len(sched.running))
            await asyncio.sleep(0.001)
        assert peak == 3
        assert all(s.generated == 5 for s in seqs)
        assert sched.kv_used == 0
        # A KV cache that holds two sequences caps the batch below max_num_seqs.
        sched.max_num_seqs, sched.kv_capacity, peak = 8, 2 * 15, 0
        seqs = [sched.submit(10, 5) for _ in range(5)]
        while not all(s.finished for s in seqs):
            peak = max(peak, len(sched.running))
            await asyncio.sleep(0.001)
        assert peak == 2
    finally:
        loop_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop_task
