"""Schemathesis over the product's own OpenAPI schema, on SQLite and on PostgreSQL.

Against a real ``autotuner serve`` (see ``conftest.py``), loaded from its
``/openapi.json``:

- every operation gets the schema's examples, schemathesis' coverage cases
  (boundaries, out-of-range integers, wrong types, odd content types) and a few
  hundred fuzzed requests, valid and invalid;
- the state machine follows the links between operations (create a task, then
  read, start, cancel, delete it and read its events by the returned id);
- afterwards no task may be left unfinished: each one that was started ends,
  with its final event stored, once cancelled.

Checks: no 5xx, every status code is one the schema declares for its
operation, and every response conforms to the schema where the product
declares one. Failures are collected over the whole run and reported at once,
with a curl command per distinct failure. Runs are reproducible (fuzzing
derandomized, the state machine seeded, no example database) and bounded in
cases, not in time: about 4,000 requests per backend, 3 minutes for both on 2
loaded cores. The task spec's schema is refined before use (see
``_TASK_SPEC_REFINEMENTS``) so that valid drafts are tasks that run.
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.engine.errors import is_inconsistent_replay
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.conftest import FuzzServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Fuzzed cases per operation (valid and invalid together), on top of examples and coverage.
MAX_EXAMPLES = 300
# Stateful: scenarios and steps per scenario.
STATEFUL_SCENARIOS = 90
STATEFUL_SUITES = 3
SEED = 20261206
STATEFUL_STEPS = 8
# A request that takes longer than this means a frozen server, not a slow one.
REQUEST_TIMEOUT = 60.0
FINAL = {"completed", "failed", "cancelled"}
FINAL_EVENT = {
    "completed": "task_completed",
    "failed": "task_failed",
    "cancelled": "task_cancelled",
}


def _config(base_url: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "base-url": base_url,
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
                # A failure is reported as found: shrinking would cost minutes per failure.
                "no-shrink": True,
            },
            "phases": {
                "examples": {"enabled": True, "fill-missing": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {
                    "enabled": True,
                    "max-steps": STATEFUL_STEPS,
                    "inference": {"algorithms": ["location-headers", "dependency-analysis"]},
                },
            },
            "request-timeout": REQUEST_TIMEOUT,
        }
    )


# What the product validates in a task spec but its schema does not declare (names
# that are engine flags, lists that are not empty, scenarios like D(8,8)), and
# upper bounds that keep a started task short. Valid data drawn from the schema
# as published is refused almost every time, so the suite would start next to no
# task; with these, most valid drafts are tasks that run. Invalid data is drawn
# around them, so what lies beyond is still sent.
_TASK_SPEC_REFINEMENTS: dict[str, dict[str, dict[str, Any]]] = {
    "TaskSpec": {
        "task_name": {"pattern": r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,40}$"},
        "description": {"maxLength": 200},
        "base_runtime": {"enum": ["vllm", "sglang", "llama.cpp"]},
        # Integer flags of vLLM and SGLang (a task's flags are checked against its
        # engine's schema): a vLLM or SGLang task, on the simulator or refused at
        # start, never a real llama.cpp engine.
        "parameters": {
            "maxProperties": 4,
            "propertyNames": {
                "enum": ["max-num-seqs", "seed", "max-running-requests", "random-seed"]
            },
            "additionalProperties": {
                "minItems": 1,
                "maxItems": 4,
                "items": {"type": "integer", "minimum": 1, "maximum": 64},
            },
        },
    },
    "ModelSpec": {"id_or_path": {"pattern": r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,40}$"}},
    "OptimizationSpec": {
        "max_iterations": {"maximum": 3},
        "timeout_per_iteration": {"maximum": 30},
    },
    "BenchmarkSpec": {
        "traffic_scenarios": {
            "maxItems": 2,
            "items": {"pattern": r"^D\([1-9][0-9]?,[1-9][0-9]?\)$"},
        },
        "num_concurrency": {"maxItems": 2, "items": {"minimum": 1, "maximum": 8}},
        "max_time_per_iteration": {"maximum": 3},
        "max_requests_per_iteration": {"maximum": 20},
        "additional_params": {"maxProperties": 3},
        "request_rate": {"maxItems": 2, "items": {"maximum": 50}},
        "max_concurrency": {"maximum": 8},
        "ramp_up_time": {"maximum": 1},
        "warmup_requests": {"maximum": 4},
        # Prompt files nobody serves: a refused port, a file that is not there.
        "dataset_url": {"pattern": r"^http://127\.0\.0\.1:1/[a-z]{1,8}\.jsonl$"},
    },
    "SweepSpec": {"rates": {"maximum": 2}},
    "DatasetSpec": {
        "path": {"pattern": r"^[a-z]{1,8}\.jsonl$"},
        "url": {"pattern": r"^http://127\.0\.0\.1:1/[a-z]{1,8}\.jsonl$"},
    },
}


def _refine(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with ``_TASK_SPEC_REFINEMENTS`` merged into the task spec's schemas.

    A keyword the product already declares is kept as the product has it.
    """
    schemas = raw.get("components", {}).get("schemas", {})
    for component, properties in _TASK_SPEC_REFINEMENTS.items():
        for name in (component, f"{component}-Input"):
            declared = schemas.get(name, {}).get("properties", {})
            for prop, refinement in properties.items():
                target = declared.get(prop)
                if target is None:
                    continue
                # Optional fields are anyOf [T, null]: refine the T.
                for branch in target.get("anyOf", [target]):
                    if branch.get("type") != "null":
                        _merge(branch, refinement)
    return raw


def _merge(target: dict[str, Any], refinement: dict[str, Any]) -> None:
    for key, value in refinement.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target.setdefault(key, value)


@pytest.fixture
def api_schema(fuzz_server: FuzzServer) -> Any:
    response = httpx.get(f"{fuzz_server.url}/openapi.json", timeout=REQUEST_TIMEOUT)
    response.raise_for_status()
    return schemathesis.openapi.from_dict(_refine(response.json()), config=_config(fuzz_server.url))


schema = schemathesis.pytest.from_fixture("api_schema")


def _check(server: FuzzServer, case: Any, response: Any) -> None:
    """Record the response and any check it fails, and go on with the next case.

    Failures are collected rather than raised so that one run finds every
    distinct failure of every operation (Hypothesis would stop an operation at
    its first); ``test_no_server_error_and_every_response_conforms`` reports them.
    """
    label = case.operation.label
    server.record(label, response.status_code)
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as group:
        curl = case.as_curl_command(headers=dict(response.request.headers))
        if len(curl) > 700:
            curl = curl[:700] + f"... ({len(curl)} characters)"
        body = response.text[:300].replace("\n", " ")
        for failure in group.exceptions:
            server.record_failure(
                label, failure.title, response.status_code, f"{curl}\n      -> {body}"
            )


_NAMES = itertools.count(1)
_NAME = re.compile(_TASK_SPEC_REFINEMENTS["TaskSpec"]["task_name"]["pattern"])


def _unique_name(case: Any) -> None:
    """Suffix a valid drawn task name with a counter: Hypothesis draws the same
    simple names again and again, and a task name is unique, so most valid
    specs would be refused as duplicates (409) and never run."""
    body = case.body
    if case.operation.label == "POST /api/tasks" and isinstance(body, dict):
        name = body.get("task_name")
        if isinstance(name, str) and _NAME.match(name):
            body["task_name"] = f"{name}-{next(_NAMES)}"


@schema.parametrize()
def test_every_operation_under_examples_coverage_and_fuzzing(
    case: Any, fuzz_server: FuzzServer
) -> None:
    fuzz_server.runs.add("fuzzing")
    _unique_name(case)
    _check(fuzz_server, case, case.call(timeout=REQUEST_TIMEOUT))


def test_stateful_links(api_schema: Any, fuzz_server: FuzzServer) -> None:
    base = api_schema.as_state_machine()
    assert base.schema.statistic.transitions.total > 0, "no links between operations"
    scenarios = 0

    class Machine(base):  # type: ignore[misc, valid-type]
        def before_call(self, case: Any) -> None:
            _unique_name(case)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"timeout": REQUEST_TIMEOUT}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            _check(fuzz_server, case, response)

        def teardown(self) -> None:
            nonlocal scenarios
            scenarios += 1

    fuzz_server.runs.add("stateful")
    settings = hypothesis.settings(
        max_examples=STATEFUL_SCENARIOS // STATEFUL_SUITES,
        stateful_step_count=STATEFUL_STEPS,
        deadline=None,
        database=None,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    for suite in range(STATEFUL_SUITES):
        try:
            hypothesis.seed(SEED + suite)(Machine).run(settings=settings)
        except Exception as exc:
            # The server's state changes under Hypothesis, so replaying a scenario can
            # draw differently: Hypothesis's own complaint, not the product's. The
            # scenarios run so far stand; the next suite starts afresh.
            if not (isinstance(exc, hypothesis.errors.Flaky) or is_inconsistent_replay(exc)):
                raise
    assert scenarios >= STATEFUL_SCENARIOS // 2, f"only {scenarios} scenarios ran"
    # The scenarios reached the task lifecycle, not only 404s and 422s.
    assert fuzz_server.responses[("POST /api/tasks", 201)] > 0
    assert fuzz_server.responses[("POST /api/tasks/{task_id}/start", 200)] > 0


def _require_runs(server: FuzzServer) -> None:
    if server.runs != {"fuzzing", "stateful"}:
        pytest.skip("judges the fuzzing and stateful tests of the same backend: run them too")


def test_no_server_error_and_every_response_conforms(fuzz_server: FuzzServer) -> None:
    _require_runs(fuzz_server)
    _report(fuzz_server)
    total = sum(fuzz_server.responses.values())
    assert total > 0
    assert not fuzz_server.failures, (
        f"{len(fuzz_server.failures)} distinct failures in {fuzz_server.failed_requests} of "
        f"{total} requests:\n"
        + "\n".join(
            f"- {label}: {title} ({status})\n    {repro}"
            for (label, title, status), repro in sorted(fuzz_server.failures.items())
        )
    )


def test_no_task_is_left_unfinished(fuzz_server: FuzzServer) -> None:
    """Every started task ends once cancelled, and its final event is stored."""
    _require_runs(fuzz_server)
    with httpx.Client(base_url=fuzz_server.url, timeout=REQUEST_TIMEOUT) as client:
        assert client.get("/api/health").status_code == 200
        tasks = _all_tasks(client)
        started = [t for t in tasks if t["status"] != "pending"]
        assert started, "the fuzzer started no task: nothing was checked"
        for task in tasks:
            if task["status"] in ("queued", "running"):
                response = client.post(f"/api/tasks/{task['id']}/cancel")
                assert response.status_code in (200, 409), (task["id"], response.text)
        deadline = time.monotonic() + 120
        while True:
            tasks = _all_tasks(client)
            stuck = [t for t in tasks if t["status"] in ("queued", "running")]
            if not stuck or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert not stuck, (
            "tasks not final 120 s after cancel: "
            + ", ".join(f"{t['id']} {t['status']} ({t['task_name']!r})" for t in stuck)
            + f"\nserver log:\n{fuzz_server.proc.tail(80)}"
        )
        missing = []
        for task in tasks:
            if task["status"] not in FINAL:
                continue
            events = client.get(f"/api/tasks/{task['id']}/events", params={"limit": 10_000})
            assert events.status_code == 200, events.text
            types = [e["type"] for e in events.json()]
            if not types or types[-1] != FINAL_EVENT[task["status"]]:
                missing.append(f"{task['id']} {task['status']}: last event {types[-1:]}")
        assert not missing, "final event not stored: " + "; ".join(missing)
    statuses = {s: sum(1 for t in tasks if t["status"] == s) for s in sorted(FINAL | {"pending"})}
    print(f"\n[{fuzz_server.backend}] tasks {statuses}; reaped {len(fuzz_server.reaped)}")


def _all_tasks(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get("/api/tasks")
    assert response.status_code == 200, response.text
    tasks: list[dict[str, Any]] = response.json()
    return tasks


def _report(server: FuzzServer) -> None:
    """What was sent, for the log of a run (pytest -s or -rA)."""
    total = sum(server.responses.values())
    by_status: dict[int, int] = {}
    for (_, status), count in server.responses.items():
        by_status[status] = by_status.get(status, 0) + count
    print(f"\n[{server.backend}] {total} requests, by status {dict(sorted(by_status.items()))}")
    labels = sorted({label for label, _ in server.responses})
    for label in labels:
        counts = {s: n for (op, s), n in sorted(server.responses.items()) if op == label}
        print(f"  {label}: {sum(counts.values())} {counts}")
