"""Load-generator capacity on one core: ours beside ``vllm bench serve``, GuideLLM and httpx.

One command per figure (see docs/benchmarks.md)::

    python benchmarks/loadgen_capacity.py requests   # 1-token responses: requests/s
    python benchmarks/loadgen_capacity.py tokens     # 256-token responses: streamed tokens/s

Each load generator runs pinned to CPU 0 against ``autotuner.testing.stub``
(no delay: every token is written as soon as it can be) pinned to CPU 1, at
the same concurrency (64 streams, closed loop; the httpx baseline at 8, its
best here: at 64 streams httpcore's connection pool cuts it to a quarter),
``--repeat`` times (3), the
generators taking turns so that a change of machine load hits them alike. A
figure is the median of the runs of one generator, as that generator itself
reports it (completed requests or output tokens over its own measured
duration); the ratio is that median over the httpx baseline's median of the
same run. The stub's own count of served requests is checked against each
run's, so a generator cannot report requests that never reached the server.

A generator that cannot run here (its venv missing) is reported as such, with why.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from loadgen_peers import (
    PEERS,
    available,
    machine_load,
    median_of,
    run_peer,
    served,
    stub,
    wait_quiet,
)

# Requests per run, so that each run lasts a few seconds at the speed each generator
# showed here (too few and start-up effects dominate, too many and a run drags on).
REQUESTS = {
    "requests": {"ours": 30_000, "vllm": 10_000, "guidellm": 2_000, "httpx": 4_000},
    "tokens": {"ours": 4_000, "vllm": 2_000, "guidellm": 300, "httpx": 400},
}
OUTPUT_TOKENS = {"requests": 1, "tokens": 256}
FIGURE = {"requests": "request_throughput", "tokens": "output_throughput"}
TARGET = {"requests": 5_000.0, "tokens": 250_000.0}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    case = args.case
    peers = [p for p in args.peers.split(",") if p]
    skipped = {p: why for p in peers if (why := available(p)) is not None}
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in peers if p not in skipped}
    load_before = machine_load()
    with tempfile.TemporaryDirectory(prefix="loadgen-capacity-") as tmp, stub() as server:
        work = Path(tmp)
        for repeat in range(args.repeat):
            for peer in runs:
                count = int(REQUESTS[case][peer] * args.scale)
                before = served(server.url)
                width = args.httpx_concurrency if peer == "httpx" else args.concurrency
                figures = run_peer(
                    peer,
                    server.url,
                    concurrency=width,
                    requests=count,
                    prompt_tokens=1,
                    output_tokens=OUTPUT_TOKENS[case],
                    work=work,
                )
                # Every peer sends a request or two of its own first (a readiness or
                # test prompt): the stub must have served at least what was reported.
                answered = served(server.url) - before
                if answered < figures["completed"]:
                    raise RuntimeError(
                        f"{peer} reported {figures['completed']} requests, "
                        f"the stub served {answered}"
                    )
                figures["served_by_stub"] = answered
                figures["concurrency"] = width
                runs[peer].append(figures)
                print(
                    f"run {repeat + 1}/{args.repeat} {peer}: "
                    f"{figures['request_throughput']:,.0f} req/s, "
                    f"{figures['output_throughput']:,.0f} tok/s "
                    f"({figures['completed']} requests in {figures['duration']:.2f} s)",
                    flush=True,
                )
                wait_quiet()
    key = FIGURE[case]
    medians = {peer: median_of(r, key) for peer, r in runs.items()}
    baseline = medians.get("httpx")
    return {
        "case": case,
        "figure": key,
        "concurrency": args.concurrency,
        "output_tokens": OUTPUT_TOKENS[case],
        "target": TARGET[case],
        "medians": medians,
        "ratio_vs_httpx": {p: m / baseline for p, m in medians.items()} if baseline else None,
        "skipped": skipped,
        "runs": runs,
        "machine": {"before": load_before, "after": machine_load()},
    }


def report(result: dict[str, Any]) -> None:
    unit = "requests/s" if result["case"] == "requests" else "output tokens/s"
    print(
        f"\n{unit}, {result['output_tokens']}-token responses, "
        f"{result['concurrency']} streams, median of {len(next(iter(result['runs'].values())))}"
    )
    print("| generator | streams | median | runs | vs httpx |")
    print("|---|---:|---:|---|---:|")
    for peer, median in result["medians"].items():
        runs = ", ".join(f"{r[result['figure']]:,.0f}" for r in result["runs"][peer])
        ratio = result["ratio_vs_httpx"]
        vs = f"{ratio[peer]:.1f}x" if ratio else "-"
        streams = result["runs"][peer][0]["concurrency"]
        print(f"| {peer} | {streams} | {median:,.0f} | {runs} | {vs} |")
    for peer, why in result["skipped"].items():
        print(f"| {peer} | | not run: {why} | | |")
    ours, vllm = result["medians"].get("ours"), result["medians"].get("vllm")
    if ours is not None:
        verdict = "meets" if ours >= result["target"] else "misses"
        print(f"ours {verdict} the target of {result['target']:,.0f} {unit}", end="")
        if vllm is not None:
            print(f" and is {ours / vllm:.2f}x vllm bench serve", end="")
        print()
    print(f"machine: {result['machine']['before']} before, {result['machine']['after']} after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("case", choices=sorted(REQUESTS))
    parser.add_argument("--peers", default=",".join(PEERS), help="comma list of " + ",".join(PEERS))
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--httpx-concurrency",
        type=int,
        default=8,
        help="streams of the httpx baseline (its best here; at 64 httpcore's pool costs 4x)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply requests per run")
    parser.add_argument("--out", type=Path, help="write the result as JSON")
    args = parser.parse_args()
    result = measure(args)
    report(result)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
