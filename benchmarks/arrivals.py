"""Poisson arrivals at 50 requests/s: the coefficient of variation of inter-arrival times.

One command per figure (see docs/benchmarks.md)::

    python benchmarks/arrivals.py

A Poisson process has exponential inter-arrival times, whose standard
deviation equals their mean: a coefficient of variation (CV = sd / mean) of
1.0. Target: 1.0 +/- 0.05. Two measurements:

- ``measured``: ``autotuner bench --rate 50`` (burstiness 1, pinned to CPU 0)
  against the stub (pinned to CPU 1), which records when it read each
  request; the CV of the gaps between those times is what the server saw,
  scheduling delays of the generator, the network and the stub included.
  ``vllm bench serve --request-rate 50`` is measured the same way beside it.
  The first ``--skip`` arrivals are left out (peers send a test request of
  their own first). With n gaps the CV's sampling error is about 1/sqrt(n):
  0.016 at the default 4,000 requests.
- ``schedule``: the load generator's own arrival schedule
  (``autotuner.bench.arrivals.arrival_times``, seed 0), 100,000 gaps: the CV
  of what the generator means to send, free of timing noise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from loadgen_peers import (
    GENERATOR_CPU,
    available,
    machine_load,
    pinned,
    recording_stub,
    run_peer,
)

TARGET_CV = 1.0
TOLERANCE = 0.05


def cv(gaps: list[float]) -> float:
    return statistics.pstdev(gaps) / statistics.fmean(gaps)


def measured(peer: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with recording_stub(work) as server:
        if peer == "ours":
            extra = ["--rate", str(args.rate), "--burstiness", "1"]
            run_peer(
                "ours",
                server.url,
                concurrency=None,  # an open-loop level only, with no cap on requests in flight
                requests=args.requests,
                prompt_tokens=1,
                output_tokens=1,
                work=work,
                extra=extra,
            )
        else:
            _vllm_at_rate(server.url, args, work)
    times = sorted(r["received"] for r in server.records())[args.skip :]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return {
        "arrivals": len(times),
        "cv": cv(gaps),
        "rate": (len(times) - 1) / (times[-1] - times[0]),
        "max_gap_ms": 1000 * max(gaps),
    }


def _vllm_at_rate(url: str, args: argparse.Namespace, work: Path) -> None:
    import subprocess

    from loadgen_peers import make_tokenizer, vllm_bench_command

    tokenizer = make_tokenizer(work / "tokenizer")
    command = [
        *vllm_bench_command(url, tokenizer, 1, 1, args.requests),
        "--request-rate",
        str(args.rate),
        "--burstiness",
        "1",
        "--seed",
        "1",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    subprocess.run(
        pinned(GENERATOR_CPU, command),
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
        timeout=900,
    )


def schedule(rate: float, n: int) -> dict[str, Any]:
    """The CV of the load generator's own schedule: ``n`` gaps of ``arrival_times``."""
    import itertools
    import random

    from autotuner.bench.arrivals import arrival_times

    times = list(itertools.islice(arrival_times(rate, 1.0, random.Random(0)), n + 1))
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return {"draws": len(gaps), "cv": cv(gaps), "rate": len(gaps) / (times[-1] - times[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--skip", type=int, default=5)
    parser.add_argument("--peers", default="ours,vllm")
    parser.add_argument("--out", type=Path, help="write the result as JSON")
    args = parser.parse_args()
    result: dict[str, Any] = {"rate": args.rate, "machine_before": machine_load()}
    result["schedule"] = schedule(args.rate, 100_000)
    result["measured"] = {}
    with tempfile.TemporaryDirectory(prefix="arrivals-") as tmp:
        for peer in [p for p in args.peers.split(",") if p]:
            if (why := available(peer)) is not None:
                result["measured"][peer] = {"skipped": why}
                continue
            result["measured"][peer] = measured(peer, args, Path(tmp))
    result["machine_after"] = machine_load()
    print(f"Poisson arrivals at {args.rate:g} req/s: inter-arrival CV (target 1.0 +/- 0.05)")
    print("| source | arrivals | CV | achieved rate | verdict |")
    print("|---|---:|---:|---:|---|")
    rows = [("ours, schedule", result["schedule"])]
    rows += [(f"{peer}, at the stub", m) for peer, m in result["measured"].items()]
    for name, m in rows:
        if not m or "skipped" in m:
            print(f"| {name} | not run: {(m or {}).get('skipped', 'no arrival schedule')} | | | |")
            continue
        ok = math.isclose(m["cv"], TARGET_CV, abs_tol=TOLERANCE)
        count = m.get("arrivals", m.get("draws"))
        print(
            f"| {name} | {count:,} | {m['cv']:.3f} | {m['rate']:.2f} req/s | "
            f"{'within' if ok else 'OUTSIDE'} 1.0 +/- 0.05 |"
        )
    print(f"machine: {result['machine_before']} before, {result['machine_after']} after")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
