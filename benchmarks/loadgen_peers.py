"""What the load-generator benchmarks share: the stub, CPU pinning, the peers.

Every load generator runs as a process of its own, pinned to one core
(``taskset``), against ``autotuner.testing.stub`` pinned to the other, and
reports its own figures (each tool's own duration: from its first request to
its last answer, without its start-up):

- ``ours``: ``autotuner bench --json -`` (``run_benchmark``, the worker's code);
- ``vllm``: ``vllm bench serve`` from vLLM's CPU build (``scripts/install_vllm.sh``).
  The distribution's ``vllm`` console script fails on its own version lookup
  (see docs/benchmarks.md), so :data:`VLLM_DRIVER` runs the same
  ``vllm.benchmarks.serve`` parser and ``main``;
- ``guidellm``: ``guidellm run`` (``scripts/install_guidellm.sh``), with one
  worker process (its best setting on one core; the default of 10 processes
  sharing the core measured about 25 % fewer requests/s);
- ``httpx``: the baseline, a plain httpx streaming loop (:data:`HTTPX_LOOP`),
  what the project's load generator was before issue 8.

vLLM and GuideLLM tokenize their synthetic prompts: :func:`make_tokenizer`
writes a byte-level tokenizer (256 byte tokens, no merges, no download) that
both load offline.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import ManagedProcess  # noqa: E402

CACHE = Path.home() / ".cache" / "autotuner"
VLLM_PY = Path(os.environ.get("VLLM_VENV", CACHE / "vllm-venv")) / "bin" / "python"
GUIDELLM = Path(os.environ.get("GUIDELLM_VENV", CACHE / "guidellm-venv")) / "bin" / "guidellm"
GUIDELLM_PY = GUIDELLM.with_name("python")
GENERATOR_CPU = "0"
STUB_CPU = "1"
PEERS = ("ours", "vllm", "guidellm", "httpx")

VLLM_DRIVER = """
import sys
from vllm.benchmarks.serve import add_cli_args, main
from vllm.utils.argparse_utils import FlexibleArgumentParser
parser = FlexibleArgumentParser()
add_cli_args(parser)
main(parser.parse_args(sys.argv[1:]))
"""

MAKE_TOKENIZER = """
import sys
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
vocab = {ch: i for i, ch in enumerate(alphabet)}
vocab["<|endoftext|>"] = len(vocab)
tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tk.decoder = decoders.ByteLevel()
eos = "<|endoftext|>"
PreTrainedTokenizerFast(
    tokenizer_object=tk, eos_token=eos, bos_token=eos, unk_token=eos
).save_pretrained(sys.argv[1])
"""

# The baseline: one httpx AsyncClient, `concurrency` workers, each streaming one
# request at a time and reading its SSE lines, as the load generator did before.
HTTPX_LOOP = """
import asyncio, json, sys, time
import httpx

async def main(url, concurrency, requests, tokens):
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    body = {"model": "stub-model", "prompt": "hi", "max_tokens": tokens, "stream": True,
            "stream_options": {"include_usage": True}}
    left = requests
    done = 0
    chunks = 0
    ttfts = []
    async with httpx.AsyncClient(limits=limits, timeout=60, trust_env=False) as client:
        async def worker():
            nonlocal left, done, chunks
            while left > 0:
                left -= 1
                sent = time.perf_counter()
                first = None
                async with client.stream("POST", url + "/v1/completions", json=body) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("data:") and line[5:].strip() != "[DONE]":
                            data = json.loads(line[5:])
                            if data.get("choices"):
                                chunks += 1
                                if first is None:
                                    first = time.perf_counter() - sent
                done += 1
                ttfts.append(first)
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        duration = time.perf_counter() - start
    ttfts.sort()
    print(json.dumps({
        "completed": done, "duration": duration, "request_throughput": done / duration,
        "output_throughput": chunks / duration,
        "mean_ttft_ms": 1000 * sum(ttfts) / len(ttfts),
        "p50_ttft_ms": 1000 * ttfts[len(ttfts) // 2],
        "p99_ttft_ms": 1000 * ttfts[int(len(ttfts) * 0.99)],
    }))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
"""


def pinned(cpu: str, args: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *args]


def machine_load() -> str:
    """The load average and CPUs, for the record (other work shares the machine)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


class StubProcess(ManagedProcess):
    """``python -m autotuner.testing.stub`` pinned to :data:`STUB_CPU`."""

    name = "stub"
    ready_path = "/health"

    def __init__(self, flags: list[str], log: Path) -> None:
        super().__init__(log=log, new_session=True, env={"PYTHONPATH": str(ROOT)})
        self.flags = flags

    def args(self) -> list[str]:
        command = [sys.executable, "-m", "autotuner.testing.stub", "--port", str(self.port)]
        return pinned(STUB_CPU, [*command, *self.flags])


@contextmanager
def stub(*flags: str) -> Iterator[StubProcess]:
    with tempfile.TemporaryDirectory(prefix="loadgen-stub-") as tmp:
        proc = StubProcess(list(flags), Path(tmp) / "stub.log")
        proc.start()
        try:
            proc.wait_ready()
            yield proc
        finally:
            proc.stop()


class RecordingStub(ManagedProcess):
    """The stub with ``record=True`` (this file's ``record-stub`` command), pinned to
    :data:`STUB_CPU`: when stopped it writes, per completion request, when it read
    the request and wrote the first and last token (:meth:`records`)."""

    name = "recording stub"
    ready_path = "/health"

    def __init__(self, flags: list[str], work: Path) -> None:
        super().__init__(log=work / "stub.log", new_session=True)
        self.flags = flags
        self.file = work / "stub-records.json"

    def args(self) -> list[str]:
        command = [sys.executable, str(Path(__file__).resolve()), "record-stub"]
        command += ["--port", str(self.port), "--records", str(self.file)]
        return pinned(STUB_CPU, [*command, *self.flags])

    def records(self) -> list[dict[str, Any]]:
        """The records, once the process has stopped."""
        return list(json.loads(self.file.read_text()))


@contextmanager
def recording_stub(work: Path, *flags: str) -> Iterator[RecordingStub]:
    """Yields the running stub; its :meth:`~RecordingStub.records` are there after the block."""
    proc = RecordingStub(list(flags), work)
    proc.start()
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def _record_stub(argv: list[str]) -> None:
    import argparse
    import asyncio
    import signal

    from autotuner.testing.stub import StubConfig, StubServer

    parser = argparse.ArgumentParser(prog="loadgen_peers.py record-stub")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--records", type=Path, required=True)
    parser.add_argument("--ttft-ms", type=float, default=0.0)
    parser.add_argument("--itl-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    config = StubConfig(ttft=args.ttft_ms / 1000, itl=args.itl_ms / 1000)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with StubServer(config, port=args.port, record=True) as server:
            await stop.wait()
            records = [
                {
                    "received": r.received,
                    "first_token": r.first_token,
                    "last_token": r.last_token,
                    "tokens": r.tokens,
                }
                for r in server.stats.records
            ]
        args.records.write_text(json.dumps(records))

    import uvloop

    uvloop.run(serve())


def vllm_bench_command(
    url: str, tokenizer: Path, prompt_tokens: int, output_tokens: int, requests: int
) -> list[str]:
    """``vllm bench serve`` (through :data:`VLLM_DRIVER`) against the stub with random
    prompts; callers add the load options (concurrency or rate)."""
    return [
        str(VLLM_PY),
        "-c",
        VLLM_DRIVER,
        "--base-url",
        url,
        "--model",
        "stub-model",
        "--tokenizer",
        str(tokenizer),
        "--dataset-name",
        "random",
        "--random-input-len",
        str(prompt_tokens),
        "--random-output-len",
        str(output_tokens),
        "--num-prompts",
        str(requests),
    ]


def make_tokenizer(directory: Path) -> Path:
    """A byte-level tokenizer in ``directory`` (made with the vLLM venv's transformers)."""
    if not (directory / "tokenizer.json").exists():
        python = VLLM_PY if VLLM_PY.exists() else GUIDELLM_PY
        subprocess.run([str(python), "-c", MAKE_TOKENIZER, str(directory)], check=True)
    return directory


def available(peer: str) -> str | None:
    """Why ``peer`` cannot run here, or None when it can."""
    if peer == "vllm" and not VLLM_PY.exists():
        return f"no vLLM venv at {VLLM_PY.parent.parent}: run scripts/install_vllm.sh"
    if peer == "guidellm" and not GUIDELLM.exists():
        return f"no GuideLLM venv at {GUIDELLM.parent.parent}: run scripts/install_guidellm.sh"
    return None


def _run(args: list[str], cwd: Path, timeout: float) -> str:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args[3]} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


def run_peer(
    peer: str,
    url: str,
    *,
    concurrency: int | None,
    requests: int,
    prompt_tokens: int,
    output_tokens: int,
    work: Path,
    extra: list[str] | None = None,
) -> dict[str, Any]:
    """One run of ``peer`` against ``url``: its own figures, the same keys for every peer:
    ``completed``, ``duration``, ``request_throughput``, ``output_throughput``,
    ``mean_ttft_ms``, ``p50_ttft_ms``, ``p99_ttft_ms`` (and ``untrusted`` for ours).
    ``concurrency`` None: ours only, with ``--rate`` in ``extra``."""
    timeout = 600.0
    if peer == "ours":
        out = _run(
            pinned(
                GENERATOR_CPU,
                [
                    sys.executable,
                    "-m",
                    "autotuner.cli",
                    "bench",
                    "--url",
                    url,
                    "--model",
                    "stub-model",
                    "--scenario",
                    f"D({prompt_tokens},{output_tokens})",
                    *(["--concurrency", str(concurrency)] if concurrency else []),
                    "--max-requests",
                    str(requests),
                    "--max-time",
                    "300",
                    "--json",
                    "-",
                    "--quiet",
                    *(extra or []),
                ],
            ),
            work,
            timeout,
        )
        levels = json.loads(out)["levels"]
        # With --rate in ``extra``, the open-loop level is the one measured.
        level = next((lv for lv in levels if lv.get("request_rate") is not None), levels[0])
        keys = ("completed", "duration", "request_throughput", "output_throughput")
        figures = {k: level[k] for k in keys}
        figures |= {k: level[k] for k in ("mean_ttft_ms", "p50_ttft_ms", "p99_ttft_ms")}
        figures["untrusted"] = level.get("untrusted_reasons") or []
        figures["client"] = level.get("client") or {}
        return figures
    if concurrency is None:
        raise ValueError(f"{peer} runs at a concurrency here")
    if peer == "httpx":
        args = [sys.executable, "-c", HTTPX_LOOP, url, str(concurrency), str(requests)]
        return dict(
            json.loads(_run(pinned(GENERATOR_CPU, [*args, str(output_tokens)]), work, timeout))
        )
    tokenizer = make_tokenizer(work / "tokenizer")
    if peer == "vllm":
        result = work / "vllm.json"
        result.unlink(missing_ok=True)
        args = [
            *vllm_bench_command(url, tokenizer, prompt_tokens, output_tokens, requests),
            "--max-concurrency",
            str(concurrency),
            "--request-rate",
            "inf",
            "--ignore-eos",
            "--percentile-metrics",
            "ttft,tpot,itl,e2el",
            "--metric-percentiles",
            "50,99",
            "--save-result",
            "--result-dir",
            str(work),
            "--result-filename",
            result.name,
        ]
        _run(pinned(GENERATOR_CPU, args), work, timeout)
        data = json.loads(result.read_text())
        names = ["completed", "duration", "request_throughput", "output_throughput", "mean_ttft_ms"]
        figures = {k: data[k] for k in names}
        figures["p50_ttft_ms"] = data.get("p50_ttft_ms", data.get("median_ttft_ms"))
        figures["p99_ttft_ms"] = data.get("p99_ttft_ms")
        return figures
    if peer == "guidellm":
        result = work / "guidellm.json"
        result.unlink(missing_ok=True)
        backend = f"kind=openai_http,target={url},model=stub-model,request_format=/v1/completions"
        args = [
            str(GUIDELLM),
            "run",
            "--backend",
            backend,
            "--profile",
            f"kind=concurrent,streams={concurrency}",
            "--data",
            # GuideLLM's synthetic text needs a few tokens to build a prompt from.
            f"kind=synthetic_text,prompt_tokens={max(prompt_tokens, 8)},"
            f"output_tokens={output_tokens}",
            "--tokenizer",
            f"kind=huggingface_auto,model={tokenizer}",
            "--constraint",
            f"kind=max_requests,count={requests}",
            "--output",
            f"kind=json,path={result}",
            "--disable-console",
        ]
        env_args = ["env", "GUIDELLM__MAX_WORKER_PROCESSES=1"]
        _run(pinned(GENERATOR_CPU, [*env_args, *args]), work, timeout)
        bench = json.loads(result.read_text())["benchmarks"][0]
        metrics = bench["metrics"]
        duration = float(bench["duration"])
        completed = int(metrics["request_totals"]["successful"])
        tokens = float(metrics["output_token_count"]["successful"]["total_sum"])
        ttft = metrics["time_to_first_token_ms"]["successful"]
        return {
            "completed": completed,
            "duration": duration,
            "request_throughput": completed / duration,
            "output_throughput": tokens / duration,
            "mean_ttft_ms": ttft["mean"],
            "p50_ttft_ms": ttft["percentiles"]["p50"],
            "p99_ttft_ms": ttft["percentiles"]["p99"],
        }
    raise ValueError(f"unknown load generator {peer!r}")


def served(url: str) -> int:
    """Requests the stub has answered so far."""
    return int(httpx.get(f"{url}/stub/stats", timeout=10, trust_env=False).json()["requests"])


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(float(r[key]) for r in runs))


def wait_quiet(seconds: float = 1.0) -> None:
    """A pause between runs, so one run's sockets in TIME_WAIT do not crowd the next."""
    time.sleep(seconds)


if __name__ == "__main__":
    if sys.argv[1:2] != ["record-stub"]:
        sys.exit(
            "usage: loadgen_peers.py record-stub --port P --records FILE [--ttft-ms] [--itl-ms]"
        )
    _record_stub(sys.argv[2:])
