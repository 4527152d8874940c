"""Prompts from a file: local JSONL, JSON and CSV files, and a URL on a real HTTP server."""

from __future__ import annotations

import csv
import json
import random
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from autotuner.bench.dataset import Dataset, DatasetError, DatasetPrompt, load_dataset
from autotuner.domain import BenchmarkSpec
from autotuner.domain.spec import DatasetSpec


def _jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _spec(**dataset: Any) -> BenchmarkSpec:
    return BenchmarkSpec(dataset=DatasetSpec(**dataset))


def _texts(dataset: Dataset | None) -> list[str]:
    assert dataset is not None
    return [p.text for p in dataset.prompts]


def test_no_dataset_means_synthetic_prompts() -> None:
    assert load_dataset(BenchmarkSpec()) is None


def test_jsonl_prompts_are_deduplicated_in_file_order(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "p.jsonl",
        [{"prompt": "alpha"}, {"prompt": "beta"}, {"prompt": "alpha"}, {"prompt": "gamma"}],
    )
    dataset = load_dataset(_spec(path=str(path)))
    assert _texts(dataset) == ["alpha", "beta", "gamma"]
    assert dataset is not None and dataset.duplicates == 1 and dataset.rows == 4
    assert "3 prompts" in dataset.describe() and "1 duplicates" in dataset.describe()
    kept = load_dataset(_spec(path=str(path), deduplicate=False))
    assert _texts(kept) == ["alpha", "beta", "alpha", "gamma"]


def test_sampling_uses_only_the_files_prompts_and_is_seeded(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "p.jsonl", [{"prompt": f"question {i}"} for i in range(5)])
    dataset = load_dataset(_spec(path=str(path)))
    assert dataset is not None
    rng = random.Random(4)
    drawn = [dataset.sample(rng) for _ in range(300)]
    assert {p.text for p in drawn} == {f"question {i}" for i in range(5)}
    assert all(p.output_tokens is None for p in drawn)
    again = [dataset.sample(random.Random(4)) for _ in range(3)]
    assert again[0] == again[1] == again[2] == drawn[0]


def test_csv_with_output_lengths(tmp_path: Path) -> None:
    path = tmp_path / "prompts.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "max_out"])
        writer.writerows([["hello, world", "12"], ["multi\nline", ""], ["third", "7.0"]])
    dataset = load_dataset(
        _spec(path=str(path), prompt_field="text", output_tokens_field="max_out")
    )
    assert dataset is not None
    assert list(dataset.prompts) == [
        DatasetPrompt("hello, world", 12),
        DatasetPrompt("multi\nline", None),
        DatasetPrompt("third", 7),
    ]


def test_sharegpt_and_chat_shapes_give_the_first_user_turn(tmp_path: Path) -> None:
    rows = [
        {
            "id": "a",
            "conversations": [
                {"from": "system", "value": "be brief"},
                {"from": "human", "value": "What is KV cache?"},
                {"from": "gpt", "value": "..."},
            ],
        },
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi there"}]}]},
        {"conversations": [{"from": "gpt", "value": "no user turn"}]},
        {"conversations": []},
    ]
    path = tmp_path / "sharegpt.json"
    path.write_text(json.dumps(rows))
    dataset = load_dataset(_spec(path=str(path)))
    assert _texts(dataset) == ["What is KV cache?", "Hi there"]
    assert dataset is not None and dataset.skipped == 2
    explicit = load_dataset(_spec(path=str(path), prompt_field="conversations"))
    assert _texts(explicit) == ["What is KV cache?"]


def test_format_given_overrides_the_suffix(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "prompts.txt", [{"prompt": "x"}])
    assert _texts(load_dataset(_spec(path=str(path), format="jsonl"))) == ["x"]


@pytest.mark.parametrize(
    ("write", "dataset", "words"),
    [
        (None, {}, "does not exist"),
        ("", {}, "holds no rows"),
        ('{"text": "a"}\n{"text": "b"}\n', {}, "field 'prompt'"),
        ('{"text": "a"}\n', {}, "the rows' fields are: text"),
        ('{"prompt": "a"}\n', {"prompt_field": "question"}, "field 'question'"),
        ('{"prompt": "a"}\n', {"output_tokens_field": "n"}, "no row has field 'n'"),
        ('{"prompt": "a", "n": "many"}\n', {"output_tokens_field": "n"}, "row 1: field 'n'"),
        ('{"prompt": "a", "n": 0}\n', {"output_tokens_field": "n"}, "of 1 or more"),
        ('{"prompt": "a"}\n{oops\n', {}, "line 2: not JSON"),
        ('["a", "b"]\n', {}, "row 1: a row is an object"),
        ('{"prompt": "   "}\n', {}, "no row has a prompt"),
    ],
)
def test_unusable_files_name_the_file_and_the_field(
    tmp_path: Path, write: str | None, dataset: dict[str, Any], words: str
) -> None:
    path = tmp_path / "prompts.jsonl"
    if write is not None:
        path.write_text(write)
    with pytest.raises(DatasetError) as caught:
        load_dataset(_spec(path=str(path), **dataset))
    assert words in str(caught.value) and "prompts.jsonl" in str(caught.value)


def test_a_json_file_must_hold_an_array(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"prompt": "a"}')
    with pytest.raises(DatasetError, match="array of objects"):
        load_dataset(_spec(path=str(path)))


def test_a_directory_is_not_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").mkdir()
    with pytest.raises(DatasetError, match="is a directory"):
        load_dataset(_spec(path=str(tmp_path / "d.jsonl")))


class _Files(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = self.files.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_files() -> Iterator[tuple[str, dict[str, bytes], list[str]]]:
    """A real HTTP server on a free port: (base URL, files by path, paths requested)."""
    files: dict[str, bytes] = {}
    hits: list[str] = []
    handler = type("Handler", (_Files,), {"files": files, "hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", files, hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_url_is_downloaded_once(
    http_files: tuple[str, dict[str, bytes], list[str]], tmp_path: Path
) -> None:
    base, files, hits = http_files
    files["/data/prompts.jsonl"] = b'{"prompt": "from the web"}\n{"prompt": "second"}\n'
    url = f"{base}/data/prompts.jsonl"
    spec = BenchmarkSpec(dataset_url=url)  # the seed project's field
    assert _texts(load_dataset(spec)) == ["from the web", "second"]
    assert _texts(load_dataset(BenchmarkSpec(dataset=DatasetSpec(url=url)))) == [
        "from the web",
        "second",
    ]
    assert hits == ["/data/prompts.jsonl"]


def test_a_cache_dir_keeps_the_download_across_processes(
    http_files: tuple[str, dict[str, bytes], list[str]], tmp_path: Path
) -> None:
    base, files, hits = http_files
    files["/cached.csv"] = b"prompt\ncached one\n"
    url = f"{base}/cached.csv"
    spec = BenchmarkSpec(dataset=DatasetSpec(url=url))
    assert _texts(load_dataset(spec, cache_dir=tmp_path / "cache")) == ["cached one"]
    assert len(list((tmp_path / "cache").iterdir())) == 1
    # A new process has an empty memory cache but the same data dir.
    from autotuner.bench import dataset as module

    module._downloaded.clear()
    files["/cached.csv"] = b"prompt\nchanged\n"
    assert _texts(load_dataset(spec, cache_dir=tmp_path / "cache")) == ["cached one"]
    assert hits == ["/cached.csv"]


def test_a_missing_url_names_the_url_and_the_status(
    http_files: tuple[str, dict[str, bytes], list[str]],
) -> None:
    base, _, _ = http_files
    with pytest.raises(DatasetError, match=r"/missing\.jsonl: HTTP 404"):
        load_dataset(BenchmarkSpec(dataset=DatasetSpec(url=f"{base}/missing.jsonl")))


def test_an_unreachable_url_is_a_dataset_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DatasetError, match="cannot be read"):
        load_dataset(BenchmarkSpec(dataset=DatasetSpec(url=f"http://127.0.0.1:{port}/p.jsonl")))
