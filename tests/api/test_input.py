"""Hostile and careless input against a real ``autotuner serve``, on SQLite and PostgreSQL.

Whatever a request holds, the answer is a 4xx that says what to change, never a
5xx, and what is accepted can be stored, serialized into events and run.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.helpers import AutotunerProcess, wait_until

REPO = Path(__file__).resolve().parents[2]
HUGE = "99999999999999999999"  # beyond 64 bits
BEYOND_INT64 = str(2**63)
BEYOND_INT32 = str(2**31)  # ids are INTEGER columns: 32-bit on PostgreSQL


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AutotunerProcess]:
    """One embedded ``autotuner serve`` per backend, shared by this module's tests."""
    workdir = tmp_path_factory.mktemp(f"input-{request.param}")
    env = {
        "AUTOTUNER_REDIS_URL": "",
        "AUTOTUNER_DATABASE_URL": "",
        "AUTOTUNER_DATA_DIR": str(workdir / "data"),
    }
    if request.param == "postgres":
        env["AUTOTUNER_DATABASE_URL"] = request.getfixturevalue("pg_url")
    proc = AutotunerProcess("serve", env, workdir / "serve.log").start()
    yield proc
    proc.stop()


@pytest.fixture
def api(server: AutotunerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def _spec(**changes: Any) -> dict[str, Any]:
    """A small runnable sim task with a name of its own."""
    spec: dict[str, Any] = {
        "task_name": f"input-{uuid.uuid4().hex[:10]}",
        "deployment_mode": "sim",
        "base_runtime": "vllm",
        "model": {"id_or_path": "sim-input-1B"},
        "parameters": {"max-num-seqs": [8]},
        "optimization": {"strategy": "grid_search", "max_iterations": 1},
        "benchmark": {
            "traffic_scenarios": ["D(16,8)"],
            "num_concurrency": [2],
            "max_time_per_iteration": 3,
            "max_requests_per_iteration": 4,
        },
    }
    spec.update(changes)
    return spec


def _post_raw(api: httpx.Client, text: str) -> httpx.Response:
    """A body as written (NaN, lone surrogates: what json= would not send)."""
    return api.post(
        "/api/tasks", content=text.encode("utf-8"), headers={"content-type": "application/json"}
    )


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


def _errors(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]  # valid JSON, whatever the input held
    assert isinstance(errors, list) and errors
    assert all(e["msg"] and not e["msg"].startswith("Value error") for e in errors)
    return errors


def _assert_names(response: httpx.Response, loc: list[Any], words: str = "") -> None:
    errors = _errors(response)
    assert any(e["loc"][: len(loc)] == loc for e in errors), errors
    if words:
        assert any(words in e["msg"] for e in errors if e["loc"][: len(loc)] == loc), errors


def _name_absent(api: httpx.Client, name: str) -> bool:
    return name not in [t["task_name"] for t in api.get("/api/tasks").json()]


# (what, JSON text of the change, location the 422 names, words of its message)
_UNSTORABLE: list[tuple[str, str, list[Any], str]] = [
    (
        "int above 2^64",
        '"parameters": {"x": [18446744073709551616]}',
        ["parameters", "x", 0],
        "64-bit",
    ),
    (
        "int below -2^63",
        '"parameters": {"x": [-9223372036854775809]}',
        ["parameters", "x", 0],
        "64-bit",
    ),
    (
        "huge int in an extra field",
        '"runtime_image_tag": [1, 18446744073709551616]',
        ["runtime_image_tag"],
        "64-bit",
    ),
    (
        "huge int in additional_params",
        '"benchmark": {"additional_params": {"seed": 99999999999999999999}}',
        ["benchmark", "additional_params", "seed"],
        "64-bit",
    ),
    ("NaN parameter", '"parameters": {"x": [NaN]}', ["parameters", "x", 0], "finite"),
    ("Infinity parameter", '"parameters": {"x": [1, -Infinity]}', ["parameters", "x", 1], "finite"),
    ("NaN in an extra field", '"extra": {"a": [NaN]}', ["extra"], "finite"),
    (
        "Infinity SLO",
        '"slo": {"ttft": {"threshold": Infinity}}',
        ["slo", "ttft", "threshold"],
        "finite",
    ),
    (
        "NaN timeout",
        '"optimization": {"timeout_per_iteration": NaN}',
        ["optimization", "timeout_per_iteration"],
        "",
    ),
    (
        "extra field nested 254 deep",
        '"deep": ' + json.dumps(_nested(254)),
        ["deep"],
        "deeper than 32",
    ),
    (
        "nested extra of a nested model",
        '"model": {"id_or_path": "m", "x": ' + json.dumps(_nested(40)) + "}",
        ["model", "x"],
        "deeper than 32",
    ),
    ("NUL in the description", '"description": "a\\u0000b"', ["description"], "NUL"),
    (
        "NUL in a parameter value",
        '"parameters": {"x": ["a\\u0000"]}',
        ["parameters", "x", 0],
        "NUL",
    ),
    ("NUL in an extra field", '"namespace": {"n": "\\u0000"}', ["namespace"], "NUL"),
    ("NUL in an extra key", '"a\\u0000b": 1', [], "NUL"),
    ("lone surrogate in task_name", '"task_name": "bad\\ud800name"', ["task_name"], ""),
    ("lone surrogate in an extra field", '"note": "\\udfff"', ["note"], "surrogate"),
    ("lone surrogate in a parameter name", '"parameters": {"\\ud800": [1]}', ["parameters"], ""),
    (
        "newline in task_name",
        '"task_name": "one\\n2026-01-01 INFO forged line"',
        ["task_name"],
        "one line",
    ),
    ("ANSI escape in task_name", '"task_name": "\\u001b[31mred"', ["task_name"], "one line"),
    ("base_runtime over its column", '"base_runtime": "' + "v" * 51 + '"', ["base_runtime"], "50"),
    ("base_runtime as a path", '"base_runtime": "../../etc"', ["base_runtime"], "engine name"),
    ("task_name over its column", '"task_name": "' + "n" * 201 + '"', ["task_name"], "200"),
    ("description too long", '"description": "' + "d" * 10_001 + '"', ["description"], "10000"),
    (
        "too many values",
        '"parameters": {"x": ' + json.dumps(list(range(1001))) + "}",
        ["parameters", "x"],
        "1000",
    ),
    (
        "too many parameters",
        '"parameters": ' + json.dumps({f"p{i}": [1] for i in range(65)}),
        ["parameters"],
        "64",
    ),
    (
        "parameter value too long",
        '"parameters": {"x": ["' + "v" * 1001 + '"]}',
        ["parameters", "x", 0],
        "1000",
    ),
    (
        "spec over 256 KiB",
        '"parameters": '
        + json.dumps({f"p{i}": [f"{j:08d}" for j in range(1000)] for i in range(30)}),
        [],
        "bytes as JSON",
    ),
    (
        "huge token count",
        '"benchmark": {"traffic_scenarios": ["D(99999999999,1)"]}',
        ["benchmark", "traffic_scenarios"],
        "at most",
    ),
    (
        "scenario with three numbers",
        '"benchmark": {"traffic_scenarios": ["D(1,2,3)"]}',
        ["benchmark", "traffic_scenarios"],
        "D takes",
    ),
    (
        "huge concurrency",
        '"benchmark": {"num_concurrency": [100000000]}',
        ["benchmark", "num_concurrency"],
        "at most",
    ),
    (
        "request_timeout that is no number",
        '"benchmark": {"additional_params": {"request_timeout": "soon"}}',
        ["benchmark", "additional_params"],
        "additional_params.request_timeout must be a number of seconds",
    ),
    (
        "goodput that is no object",
        '"benchmark": {"additional_params": {"goodput": "fast"}}',
        ["benchmark", "additional_params"],
        "additional_params.goodput must be an object",
    ),
    # The 422 echoes its input: one nested 900 deep must not make the answer recurse.
    ("900-deep list for task_name", '"task_name": ' + "[" * 900 + "]" * 900, ["task_name"], ""),
    ("900-deep list for parameters", '"parameters": ' + "[" * 900 + "]" * 900, ["parameters"], ""),
    (
        "timeout of ages",
        '"optimization": {"timeout_per_iteration": 1e300}',
        ["optimization", "timeout_per_iteration"],
        "",
    ),
]


@pytest.mark.parametrize(
    ("change", "loc", "words"), [c[1:] for c in _UNSTORABLE], ids=[c[0] for c in _UNSTORABLE]
)
def test_unstorable_or_unrunnable_specs_are_refused_naming_the_field(
    api: httpx.Client, change: str, loc: list[Any], words: str
) -> None:
    base = _spec()
    name = base["task_name"]
    fields = json.dumps(base)[1:-1]  # later keys win: the change overrides
    response = _post_raw(api, "{" + fields + ", " + change + "}")
    _assert_names(response, ["body", *loc], words)
    assert _name_absent(api, name)
    assert api.get("/api/health").json()["status"] == "ok"


def test_what_the_bounds_accept_is_stored_and_runs_to_its_final_event(
    api: httpx.Client, server: AutotunerProcess
) -> None:
    """At every bound at once: the spec is stored, served back unchanged, carried by
    every event and the task ends with its final event recorded."""
    spec = _spec(
        description="ünïcödé ✓ " * 900 + "\nmulti-line descriptions are fine",
        # load-format: a vLLM flag that takes any text and the simulator ignores.
        parameters={"max-num-seqs": [8], "load-format": [2**63 - 1, -(2**63), 1e308, "x" * 1000]},
        optimization={"strategy": "grid_search", "max_iterations": 1},
        runtime_image_tag=_nested(31),
    )
    spec["benchmark"]["additional_params"] = {"temperature": 0.0, "seed": 2**63 - 1}
    created = api.post("/api/tasks", json=spec)
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["spec"]["parameters"]["load-format"] == [2**63 - 1, -(2**63), 1e308, "x" * 1000]
    assert task["spec"]["runtime_image_tag"] == _nested(31)
    assert api.get(f"/api/tasks/{task['id']}").json()["spec"] == task["spec"]

    assert api.post(f"/api/tasks/{task['id']}/start").status_code == 200
    final = wait_until(
        lambda: (
            (t := api.get(f"/api/tasks/{task['id']}").json())["status"]
            in ("completed", "failed", "cancelled")
            and t
        ),
        timeout=120,
        interval=0.5,
    )
    assert final["status"] == "completed", final["error_message"]
    events = api.get(f"/api/tasks/{task['id']}/events").json()
    assert events[-1]["type"] == "task_completed", events
    assert events[-1]["data"]["task"]["status"] == final["status"]
    assert events[0]["data"]["task"]["spec"]["runtime_image_tag"] == _nested(31)
    # The extreme value went to the engine as the number itself, and only once.
    experiments = api.get(f"/api/experiments/task/{task['id']}").json()
    assert experiments and experiments[0]["parameters"]["load-format"] == 2**63 - 1
    assert "--load-format 9223372036854775807" in (experiments[0]["engine_command"] or "")


def test_seed_task_files_and_examples_still_pass(api: httpx.Client) -> None:
    for path in sorted((REPO / "examples").iterdir()):
        spec = yaml.safe_load(path.read_text())
        spec["task_name"] = f"{spec['task_name']}-{uuid.uuid4().hex[:6]}"
        response = api.post("/api/tasks", json=spec)
        assert response.status_code == 201, (path.name, response.text)
    seed = _spec(
        deployment_mode="docker",
        base_runtime="sglang",
        model={"id_or_path": "llama-3-2-1b-instruct", "namespace": "autotuner"},
        parameters={"tp-size": [1, 2], "mem-fraction-static": [0.7, 0.8, 0.85]},
        runtime_image_tag="v0.5.2-cu126",
    )
    assert api.post("/api/tasks", json=seed).status_code == 201


# ------------------------------------------------------------------ body size


def _raw_http(port: int, head: bytes, body: bytes = b"", timeout: float = 30) -> bytes:
    """Send ``head`` and ``body`` on a plain socket; what the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head + body)
        answer = b""
        # The 413 says "Connection: close": the server ends the connection after it.
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_body_announced_too_large_is_refused_before_it_is_sent(server: AutotunerProcess) -> None:
    # Content-Length says 100 MB; the server answers having read none of it.
    head = (
        b"POST /api/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000000\r\n\r\n"
    )
    answer = _raw_http(server.port, head, b'{"task_name": ')
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 413"), answer[:300]
    detail = json.loads(rest.partition(b"\r\n\r\n")[2])["detail"]
    assert "at most 1,048,576 bytes" in detail and "AUTOTUNER_MAX_BODY_BYTES" in detail


def test_a_streamed_body_is_cut_off_at_the_limit(api: httpx.Client) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"task_name": "streamed", "description": "'
        for _ in range(64):  # 4 MiB in 64 KiB chunks, no Content-Length
            sent += 65536
            yield b"d" * 65536
        yield b'"}'

    try:
        response = api.post(
            "/api/tasks", content=chunks(), headers={"content-type": "application/json"}
        )
    except httpx.WriteError:
        pytest.fail("the server closed the connection without an answer")
    assert response.status_code == 413, response.text
    assert "at most" in response.json()["detail"]
    assert api.get("/api/health").json()["status"] == "ok"
    assert _name_absent(api, "streamed")


def test_a_body_just_under_the_limit_is_read(api: httpx.Client) -> None:
    # 900 KiB: under the body limit, so validation (not the limit) answers.
    response = api.post("/api/tasks", json=_spec(description="d" * 900_000))
    _assert_names(response, ["body", "description"], "10000")


def test_a_huge_parameter_list_is_refused_at_once(api: httpx.Client) -> None:
    # The probe: 30,000 values froze the server for 24 s; 10^6 values (7 MB) for hours.
    response = api.post("/api/tasks", json=_spec(parameters={"x": list(range(30_000))}))
    _assert_names(response, ["body", "parameters", "x"], "at most 1000 items")
    big = api.post("/api/tasks", json=_spec(parameters={"x": list(range(1_000_000))}))
    assert big.status_code == 413
    # The largest accepted search space: 1000^8 points, never materialised.
    ints = ["max-num-seqs", "seed", "block-size", "max-logprobs", "max-cpu-loras"]
    ints += ["dp-sync-interval", "long-prefill-token-threshold", "mamba-block-size"]
    wide = _spec(parameters={name: list(range(1000)) for name in ints})
    wide["optimization"] = {"strategy": "random", "max_iterations": 3}
    created = api.post("/api/tasks", json=wide)
    assert created.status_code == 201, created.text
    assert api.get("/api/health").json()["status"] == "ok"


# -------------------------------------------------------- flags the product owns


_OWNED: list[tuple[str, str, str, str]] = [
    ("sim", "vllm", "host", "sets itself"),
    ("sim", "vllm", "port", "sets itself"),
    ("sim", "sglang", "model-path", "sets itself"),
    ("sim", "vllm", "Served_Model_Name", "sets itself"),
    ("sim", "vllm", "hos", "abbreviates the engine flag --host"),
    ("local", "llama.cpp", "host", "sets itself"),
    ("local", "llama.cpp", "model_alias", "sets itself"),
    ("local", "llama.cpp", "Interrupt-Requests", "sets itself"),
    ("local", "llama.cpp", "config_file", "sets itself"),
    ("local", "llama.cpp", "hf_model_repo_id", "sets itself"),
    ("local", "llama.cpp", "por", "abbreviates the engine flag --port"),
    ("local", "vllm", "model", "sets itself"),
    ("local", "vllm", "served-model-name", "sets itself"),
    ("local", "sglang", "model-path", "sets itself"),
    ("local", "sglang", "MODEL", "sets itself"),
    ("docker", "sglang", "port", "sets itself"),
]


@pytest.mark.parametrize(("mode", "engine", "name", "words"), _OWNED)
def test_flags_the_product_owns_are_refused(
    api: httpx.Client, mode: str, engine: str, name: str, words: str
) -> None:
    spec = _spec(deployment_mode=mode, base_runtime=engine, parameters={name: ["0.0.0.0"]})
    if engine == "llama.cpp":
        spec["model"] = {"id_or_path": "smollm2-135m"}
    _assert_names(api.post("/api/tasks", json=spec), ["body", "parameters", name], words)
    assert _name_absent(api, spec["task_name"])


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("--model", "without their leading dashes ('model')"),
        ("-ngl", "without their leading dashes ('ngl')"),
        ("host=0.0.0.0", "cannot hold '='"),
        ("tp size", "letters, digits"),
        ("tp;rm", "letters, digits"),
        ("", "blank"),
    ],
)
def test_parameter_names_must_be_flag_names(api: httpx.Client, name: str, words: str) -> None:
    spec = _spec(parameters={name: ["/etc/passwd"]})
    _assert_names(api.post("/api/tasks", json=spec), ["body", "parameters", name], words)


def test_engine_flags_and_their_llama_cpp_spellings_are_accepted(api: httpx.Client) -> None:
    spec = _spec(
        deployment_mode="local",
        base_runtime="llama.cpp",
        model={"id_or_path": "smollm2-135m"},
        parameters={"ctx-size": [512], "n_threads": [1, 2], "ngl": [0], "flash_attn": [False]},
    )
    assert api.post("/api/tasks", json=spec).status_code == 201
    sim = _spec(parameters={"max_num_seqs": [8], "sim-time-scale": [0.5], "tp": [1]})
    assert api.post("/api/tasks", json=sim).status_code == 201


def test_a_local_engine_without_a_preset_is_refused(api: httpx.Client) -> None:
    spec = _spec(deployment_mode="local", base_runtime="tgi")
    _assert_names(api.post("/api/tasks", json=spec), ["body", "base_runtime"], "no local preset")


# ------------------------------------------------------ ids and query numbers


def _routes(task_id: str) -> list[tuple[str, str]]:
    return [
        ("GET", f"/api/tasks/{task_id}"),
        ("DELETE", f"/api/tasks/{task_id}"),
        ("POST", f"/api/tasks/{task_id}/start"),
        ("POST", f"/api/tasks/{task_id}/cancel"),
        ("GET", f"/api/tasks/{task_id}/events"),
        ("GET", f"/api/experiments/task/{task_id}"),
        ("GET", f"/api/experiments/{task_id}"),
        ("GET", f"/api/ws/tasks/{task_id}/subscribers"),
    ]


@pytest.mark.parametrize("task_id", [HUGE, BEYOND_INT64, BEYOND_INT32, "2147483647", "0", "-1"])
def test_out_of_range_ids_answer_404_or_422(api: httpx.Client, task_id: str) -> None:
    for method, path in _routes(task_id):
        response = api.request(method, path)
        assert response.status_code in (404, 422), (method, path, response.text)
        assert response.json()["detail"], (method, path)


def test_malformed_ids_answer_404_or_422(api: httpx.Client) -> None:
    for task_id in ("abc", "1.5", "1e3", "%00", "１"):
        for method, path in _routes(task_id):
            response = api.request(method, path)
            assert response.status_code in (404, 422), (method, path, response.text)


def test_out_of_range_query_numbers_answer_422(api: httpx.Client) -> None:
    task = api.post("/api/tasks", json=_spec()).json()
    events = f"/api/tasks/{task['id']}/events"
    for query in (
        f"after={BEYOND_INT64}",
        f"after={HUGE}",
        f"after={BEYOND_INT32}",
        "after=-1",
        f"limit={HUGE}",
        "limit=0",
        "after=NaN",
    ):
        response = api.get(f"{events}?{query}")
        assert response.status_code == 422, (query, response.text)
        assert response.json()["detail"][0]["loc"][0] == "query"
    assert api.get(f"{events}?after=2147483647").json() == []


def _close_code(url: str) -> int | None:
    with connect(url, open_timeout=10, close_timeout=2) as sock:
        try:
            while True:
                sock.recv(timeout=20)
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
    return None


def test_sockets_with_out_of_range_numbers_close_with_a_4xxx_code(
    api: httpx.Client, server: AutotunerProcess
) -> None:
    task = api.post("/api/tasks", json=_spec()).json()
    for path in (f"/api/ws/tasks/{HUGE}", f"/api/ws/tasks/{BEYOND_INT32}"):
        assert _close_code(server.ws_url + path) == 4404, path
    assert _close_code(server.ws_url + f"/api/ws/experiments/{HUGE}") == 4404
    for value in (BEYOND_INT64, HUGE, "-1", "x"):
        url = f"{server.ws_url}/api/ws/tasks/{task['id']}?last_event_id={value}"
        assert _close_code(url) == 4400, value
    assert api.get("/api/health").json()["status"] == "ok"


def test_a_refused_input_is_echoed_as_valid_json(api: httpx.Client) -> None:
    """The 422 repeats the input: one that JSON cannot carry is echoed escaped."""
    for text in ('"task_name": "x\\ud800"', '"parameters": {"x": [NaN]}', '"z": Infinity'):
        base = json.dumps(_spec())[1:-1]
        response = _post_raw(api, "{" + base + ", " + text + "}")
        errors = _errors(response)  # parsed as strict JSON: no NaN, valid UTF-8
        json.loads(response.content.decode("utf-8"), parse_constant=_no_constants)
        assert any("input" in e for e in errors), errors


def _no_constants(name: str) -> None:
    raise AssertionError(f"{name} in a JSON answer")
