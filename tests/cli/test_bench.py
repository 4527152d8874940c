"""``autotuner bench`` as a user runs it, against real servers: the stub of known
timing (``autotuner.testing.stub``) and the simulator."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import Cli
from tests.helpers import ManagedProcess
from tests.sim.server import sim_server

STUB_TTFT_MS = 20.0
STUB_ITL_MS = 2.0


class StubProcess(ManagedProcess):
    """``python -m autotuner.testing.stub`` on a free port."""

    name = "stub"
    ready_path = "/health"
    ready_timeout = 20.0

    def __init__(self, log: Path, *flags: str) -> None:
        super().__init__(log=log, new_session=True)
        self.flags = flags

    def args(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "autotuner.testing.stub",
            "--port",
            str(self.port),
            *self.flags,
        ]

    def requests_served(self) -> int:
        return int(httpx.get(f"{self.url}/stub/stats", timeout=5).json()["requests"])


def _stub(tmp: Path, *flags: str) -> Iterator[StubProcess]:
    proc = StubProcess(tmp / "stub.log", *flags)
    proc.start()
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubProcess]:
    """A stub whose first token comes 20 ms after the request, then one every 2 ms."""
    yield from _stub(
        tmp_path_factory.mktemp("stub"),
        "--ttft-ms",
        str(STUB_TTFT_MS),
        "--itl-ms",
        str(STUB_ITL_MS),
        "--model",
        "stub-7b",
    )


@pytest.fixture(scope="module")
def failing_stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StubProcess]:
    """A stub that answers every request with HTTP 500."""
    yield from _stub(tmp_path_factory.mktemp("failing"), "--error-rate", "1.0")


def _rows(stdout: str) -> dict[str, list[str]]:
    """The table's rows by level label: the cells after it (marks and label dropped)."""
    rows = {}
    for line in stdout.splitlines():
        match = re.match(r"^[!x* ]*(\S.*? @ \S+(?: req/s)?|pooled \(\d+ levels\))\s{2,}(.*)$", line)
        if match:
            rows[match[1]] = match[2].split()
    return rows


def test_two_levels_table_json_and_progress(stub: StubProcess, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    result = cli(
        "bench",
        "--url",
        stub.url,
        "--scenario",
        "D(30,8)",
        "--concurrency",
        "1,4",
        "--max-requests",
        "12",
        "--max-time",
        "60",
        "--json",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    # The model came from /v1/models; progress named each level as it ran.
    assert "benchmarking stub-7b at " in result.stderr
    assert "level 1/2 D(30,8) @ c=1" in result.stderr
    assert "level 2/2 D(30,8) @ c=4" in result.stderr

    data = json.loads(out.read_text())
    levels = data["levels"]
    assert [(lv["label"], lv["completed"], lv["failed"]) for lv in levels] == [
        ("D(30,8) @ c=1", 12, 0),
        ("D(30,8) @ c=4", 12, 0),
    ]
    assert data["summary"]["completed"] == 24 and data["summary"]["num_levels"] == 2
    for level in levels:
        assert level["total_output_tokens"] == 12 * 8
        # The stub writes the first token 20 ms after it read the request: a
        # reported TTFT below that would be a figure the client made up.
        assert level["p50_ttft_ms"] >= STUB_TTFT_MS
        assert level["mean_e2el_ms"] >= STUB_TTFT_MS + 7 * STUB_ITL_MS

    rows = _rows(result.stdout)
    assert set(rows) == {"D(30,8) @ c=1", "D(30,8) @ c=4", "pooled (2 levels)"}, result.stdout
    for level in levels:
        cells = rows[level["label"]]
        assert cells[0] == "12/0"
        ttft_mean, ttft_p50, ttft_p99 = (float(v) for v in cells[3].split("/"))
        assert ttft_mean == pytest.approx(level["mean_ttft_ms"], rel=0.01)
        assert ttft_p99 == pytest.approx(level["p99_ttft_ms"], rel=0.01)
        assert ttft_p50 == pytest.approx(level["p50_ttft_ms"], rel=0.01)
    assert rows["pooled (2 levels)"][0] == "24/0"
    assert re.search(r"^pooled: 24 ok, 0 failed, ", result.stdout, re.MULTILINE)


def test_chat_endpoint_and_json_to_stdout(stub: StubProcess, cli: Cli) -> None:
    result = cli(
        "bench",
        "--url",
        stub.url + "/v1",  # a base URL with /v1, as OpenAI clients take it, works too
        "--model",
        "any-name",
        "--endpoint",
        "chat",
        "--scenario",
        "D(10,4)",
        "--max-requests",
        "5",
        "--json",
        "-",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["levels"][0]["completed"] == 5
    assert data["levels"][0]["total_output_tokens"] == 20
    assert "level 1/1" not in result.stderr  # --quiet


BAD = [
    (["--concurrency", "4,x"], r"--concurrency \(benchmark\.num_concurrency\.1\): Input should be"),
    (["--concurrency", "0"], r"--concurrency \(benchmark\.num_concurrency\): every concurrency"),
    (
        ["--scenario", "D(100)"],
        r"--scenario \(benchmark\.traffic_scenarios(\.0)?\): traffic scenario 'D\(100\)'",
    ),
    (["--rate", "fast"], r"--rate 'fast': give requests per second"),
    (["--rate", "nan"], r"--rate \(benchmark\.request_rate\.0\): .*(finite|NaN)"),
    (["--sweep", "0"], r"--sweep \(benchmark\.sweep\.rates\): Input should be greater than"),
    (["--max-time", "0"], r"--max-time \(benchmark\.max_time_per_iteration\): Input should be"),
    (["--max-requests", "0"], r"--max-requests \(benchmark\.max_requests_per_iteration\)"),
    (["--burstiness", "0"], r"--burstiness \(benchmark\.burstiness\): Input should be greater"),
    (["--max-concurrency", "0"], r"--max-concurrency \(benchmark\.max_concurrency\)"),
    (["--warmup", "-1"], r"--warmup \(benchmark\.warmup_requests\)"),
    (["--endpoint", "embeddings"], r"--endpoint \(benchmark\.additional_params\): .*'embeddings'"),
    (["--goodput", "ttft=5"], r"--goodput 'ttft=5': give METRIC:MS"),
    (
        ["--dataset", "/nonexistent/prompts.jsonl"],
        r"--dataset /nonexistent/prompts\.jsonl: no such",
    ),
    (["--url", "localhost:8000"], r"--url 'localhost:8000': give an http\(s\) URL"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_refused_naming_the_option(
    stub: StubProcess, cli: Cli, args: list[str], message: str
) -> None:
    served = stub.requests_served()
    url = [] if "--url" in args else ["--url", stub.url]
    result = cli("bench", *url, "--max-requests", "3", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert re.search(message, result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    assert stub.requests_served() == served  # refused before a request was sent


def test_all_problems_are_reported_at_once(stub: StubProcess, cli: Cli) -> None:
    result = cli("bench", "--url", stub.url, "-c", "x", "--scenario", "Q(1,1)", "--rate", "y")
    assert result.returncode == 2
    problems = [line for line in result.stderr.splitlines() if line.startswith("invalid option")]
    assert len(problems) == 3, result.stderr


def test_no_server_is_exit_1_with_a_message(cli: Cli) -> None:
    from autotuner.net import free_port

    result = cli("bench", "--url", f"http://127.0.0.1:{free_port()}", "--max-requests", "2")
    assert result.returncode == 1
    assert (
        "cannot list the models of" in result.stderr and "Is the server running?" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_every_request_failing_is_shown_and_exit_1(failing_stub: StubProcess, cli: Cli) -> None:
    result = cli("bench", "--url", failing_stub.url, "--max-requests", "6", "-c", "2")
    assert result.returncode == 1, result.stderr
    assert _rows(result.stdout)["D(100,100) @ c=2"][0] == "0/6"
    assert "errors: HTTP 500" in result.stdout
    assert "no request succeeded against" in result.stderr


def test_against_the_simulator(cli: Cli, tmp_path: Path) -> None:
    with sim_server("--max-num-seqs", "4", "--max-model-len", "512", model="sim-cli-1B") as url:
        out = tmp_path / "sim.json"
        result = cli(
            "bench",
            "--url",
            url,
            "--scenario",
            "D(20,10)",
            "--scenario",
            "U(5,30)/(4,12)",
            "-c",
            "2",
            "--max-requests",
            "6",
            "--seed",
            "3",
            "--json",
            str(out),
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(out.read_text())
    assert [lv["label"] for lv in data["levels"]] == ["D(20,10) @ c=2", "U(5,30)/(4,12) @ c=2"]
    assert all(lv["completed"] == 6 for lv in data["levels"])
    assert data["levels"][0]["total_output_tokens"] == 60
    assert "sim-cli-1B" in result.stderr


def test_rate_levels_warmup_and_a_closed_level_beside_them(
    stub: StubProcess, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "rates.json"
    served = stub.requests_served()
    result = cli(
        "bench",
        "--url",
        stub.url,
        "--scenario",
        "D(5,3)",
        "-c",
        "2",
        "--rate",
        "50,inf",
        "--warmup",
        "4",
        "--max-requests",
        "10",
        "--json",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    levels = json.loads(out.read_text())["levels"]
    assert [(lv["label"], lv["kind"], lv["completed"]) for lv in levels] == [
        ("D(5,3) @ c=2", "concurrency", 10),
        ("D(5,3) @ 50 req/s", "rate", 10),
        ("D(5,3) @ inf req/s", "rate", 10),
    ]
    # Warm-up requests reach the server but not the figures.
    assert stub.requests_served() - served >= 3 * (10 + 4)
    assert set(_rows(result.stdout)) >= {"D(5,3) @ 50 req/s", "D(5,3) @ inf req/s"}
    assert "level 2/3 D(5,3) @ 50 req/s" in result.stderr


def test_sweep_runs_synchronous_throughput_then_rates_between(
    stub: StubProcess, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "sweep.json"
    args = ["--scenario", "D(5,2)", "--sweep", "2", "--max-requests", "8", "--json", str(out)]
    result = cli("bench", "--url", stub.url, *args)
    assert result.returncode == 0, result.stderr
    levels = json.loads(out.read_text())["levels"]
    assert [lv["kind"] for lv in levels] == ["synchronous", "throughput", "sweep", "sweep"]
    low, high = sorted(float(lv["request_throughput"]) for lv in levels[:2])
    rates = [float(lv["request_rate"]) for lv in levels[2:]]
    assert low < rates[0] < rates[1] < high


def test_a_dataset_run_sends_the_files_prompts(stub: StubProcess, cli: Cli, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    # Seven words each: the stub counts a prompt's words as its tokens, and synthetic
    # prompts of D(100,4) would count 100.
    lines = [json.dumps({"prompt": f"question {i} one two three four five"}) for i in range(6)]
    prompts.write_text("\n".join(lines) + "\n")
    out = tmp_path / "dataset.json"
    args = ["--dataset", str(prompts), "--scenario", "D(100,4)", "--max-requests", "6"]
    result = cli("bench", "--url", stub.url, *args, "--json", str(out))
    assert result.returncode == 0, result.stderr
    level = json.loads(out.read_text())["levels"][0]
    assert level["completed"] == 6 and level["total_input_tokens"] == 6 * 7


def test_progress_rewrites_one_line_on_a_terminal() -> None:
    import io

    from autotuner.bench import BenchmarkProgress
    from autotuner.cli_bench import _ProgressView

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    def progress(index: int, done: int, label: str) -> BenchmarkProgress:
        return BenchmarkProgress(
            completed=done,
            failed=0,
            total=20,
            elapsed=1.0,
            fraction=done / 20,
            scenario="D(1,1)",
            concurrency=2,
            run_index=index,
            num_runs=2,
            label=label,
            request_throughput=12.5,
        )

    term = Terminal()
    view = _ProgressView(term, interval=3600)  # nothing redrawn but what must be
    view(progress(0, 1, "D(1,1) @ c=2"))
    view(progress(0, 5, "D(1,1) @ c=2"))  # throttled, yet shown when the level ends
    view(progress(1, 11, "D(1,1) @ 4 req/s"))
    view(progress(1, 20, "D(1,1) @ 4 req/s"))
    view.close()
    text = term.getvalue()
    # Rewritten in place within a level; each level's last figures are kept.
    assert text.count("\r\x1b[2K") == 4 and text.count("\n") == 2
    kept, last = text.split("\n")[:2]
    assert kept.endswith("level 1/2 D(1,1) @ c=2  5/20 requests  0 failed  25%  12.5 req/s  1s")
    assert last.endswith(
        "level 2/2 D(1,1) @ 4 req/s  20/20 requests  0 failed  100%  12.5 req/s  1s"
    )
