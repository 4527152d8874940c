"""Prompts from a file: ``benchmark.dataset`` (or the seed's ``benchmark.dataset_url``).

:func:`load_dataset` reads the spec's file once and returns a :class:`Dataset`
the load generator draws prompts from (None when the spec has no dataset:
prompts are then synthetic). Formats (``dataset.format``, else by the name's
suffix):

* ``jsonl`` (``.jsonl``, ``.ndjson``): one JSON object per line;
* ``json`` (``.json``): an array of objects (ShareGPT's files);
* ``csv`` (``.csv``): a header row, then one row per prompt.

Each row's prompt is its ``prompt_field``: a string, or a list of chat turns
(ShareGPT ``conversations`` with ``from``/``value``, OpenAI ``messages`` with
``role``/``content``) whose first user turn is taken. With the default
``prompt_field`` ("prompt"), a row without it is read from its
``conversations`` or ``messages``. ``output_tokens_field``, when given, holds
each prompt's output length; rows without one get ``None`` (the scenario's
output tokens). Rows without a prompt are skipped and counted; with
``deduplicate`` (the default) each distinct prompt text is kept once, first
occurrence first.

An http(s) URL is downloaded once per process (and kept in ``cache_dir`` when
one is given, so a worker reads it once per data directory). Every problem is a
:class:`DatasetError` whose message names the file and the field.

Reading is blocking I/O: call it from a thread (``asyncio.to_thread``) in an
event loop.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from autotuner.domain import BenchmarkSpec
from autotuner.domain.traffic import dataset_format, dataset_location

logger = logging.getLogger(__name__)

MAX_DOWNLOAD = 512 * 1024 * 1024  # bytes of a dataset read from a URL
_CSV_FIELD_LIMIT = 64 * 1024 * 1024  # characters of one CSV field (the default is 128 KiB)
_TURN_FIELDS = ("conversations", "messages")
_USER_ROLES = ("user", "human")

_downloaded: dict[str, bytes] = {}
_download_lock = threading.Lock()


class DatasetError(ValueError):
    """A dataset that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class DatasetPrompt:
    """One prompt: its text, and its output length when the file gives one."""

    text: str
    output_tokens: int | None


@dataclass(frozen=True)
class Dataset:
    """The prompts of one file, ready to draw from.

    ``rows`` counts the file's rows, ``skipped`` those without a prompt and
    ``duplicates`` the prompts left out as repeats (with ``deduplicate``).
    """

    source: str
    prompts: tuple[DatasetPrompt, ...]
    rows: int = 0
    skipped: int = 0
    duplicates: int = 0
    fields: tuple[str, ...] = field(default=(), repr=False)

    def sample(self, rng: random.Random) -> DatasetPrompt:
        """One prompt, uniformly at random (with replacement) from ``rng``."""
        return self.prompts[rng.randrange(len(self.prompts))]

    def __len__(self) -> int:
        return len(self.prompts)

    def describe(self) -> str:
        """``"412 prompts from data.jsonl (430 rows; 3 without a prompt, 15 duplicates)"``."""
        notes = []
        if self.skipped:
            notes.append(f"{self.skipped} without a prompt")
        if self.duplicates:
            notes.append(f"{self.duplicates} duplicates")
        extra = f"; {', '.join(notes)}" if notes else ""
        return f"{len(self.prompts)} prompts from {self.source} ({self.rows} rows{extra})"


def load_dataset(spec: BenchmarkSpec, *, cache_dir: Path | None = None) -> Dataset | None:
    """The spec's prompts file, read and checked; None when the spec names none.

    ``cache_dir`` (the worker's data directory, say) keeps a downloaded file across
    processes; without it a URL is downloaded once per process.
    """
    where = dataset_location(spec)
    if where is None:
        return None
    kind, location = where
    fmt = dataset_format(spec)
    if fmt is None:  # refused by the spec's validation; a hand-built spec can hold it
        raise DatasetError(
            f"cannot tell the format of {location!r} from its name: give dataset.format"
        )
    ds = spec.dataset
    prompt_field = ds.prompt_field if ds is not None else "prompt"
    output_field = ds.output_tokens_field if ds is not None else None
    deduplicate = ds.deduplicate if ds is not None else True
    if kind == "path":
        source = location
        data = _read_file(Path(location).expanduser())
    else:
        source = location
        data = _download(location, cache_dir)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"dataset {source}: not UTF-8 text ({exc})") from None
    dataset = _build(source, _rows(source, text, fmt), prompt_field, output_field, deduplicate)
    logger.info("Dataset: %s", dataset.describe())
    return dataset


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(
            f"dataset file {str(path)!r} does not exist on this worker "
            f"(benchmark.dataset.path; relative paths start at {Path.cwd()})"
        ) from None
    except IsADirectoryError:
        raise DatasetError(f"dataset path {str(path)!r} is a directory, not a file") from None
    except OSError as exc:
        raise DatasetError(f"dataset file {str(path)!r} cannot be read: {exc}") from None


def _download(url: str, cache_dir: Path | None) -> bytes:
    with _download_lock:  # one download per URL, however many levels ask at once
        if url in _downloaded:
            return _downloaded[url]
        cached = (
            cache_dir / f"dataset-{hashlib.sha256(url.encode()).hexdigest()[:32]}"
            if cache_dir
            else None
        )
        if cached is not None and cached.is_file():
            data = cached.read_bytes()
        else:
            data = _fetch(url)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                partial = cached.with_suffix(".part")
                partial.write_bytes(data)
                partial.replace(cached)
        _downloaded[url] = data
        return data


def _fetch(url: str) -> bytes:
    client = httpx.Client(timeout=httpx.Timeout(60.0), follow_redirects=True, trust_env=False)
    try:
        with client, client.stream("GET", url) as response:
            if response.status_code != 200:
                raise DatasetError(
                    f"dataset URL {url}: HTTP {response.status_code} "
                    f"{response.reason_phrase}".rstrip()
                )
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_DOWNLOAD:
                    raise DatasetError(
                        f"dataset URL {url}: larger than {MAX_DOWNLOAD // 2**20} MiB; "
                        "download it and give benchmark.dataset.path"
                    )
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise DatasetError(f"dataset URL {url} cannot be read: {exc}") from None


def _rows(source: str, text: str, fmt: str) -> Iterator[tuple[int, Any]]:
    """(row number as a person counts it, the row) of the file."""
    if fmt == "csv":
        if csv.field_size_limit() < _CSV_FIELD_LIMIT:
            csv.field_size_limit(_CSV_FIELD_LIMIT)
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            yield from enumerate(reader, start=2)  # row 1 is the header
        except csv.Error as exc:
            raise DatasetError(f"dataset {source}: not CSV ({exc})") from None
        return
    if fmt == "json":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"dataset {source}: not JSON ({exc})") from None
        if not isinstance(value, list):
            raise DatasetError(
                f"dataset {source}: a .json dataset is an array of objects; this one is "
                f"a {type(value).__name__} (a file of one object per line is jsonl)"
            )
        yield from enumerate(value, start=1)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"dataset {source}, line {number}: not JSON ({exc})") from None


def _build(
    source: str,
    rows: Iterator[tuple[int, Any]],
    prompt_field: str,
    output_field: str | None,
    deduplicate: bool,
) -> Dataset:
    prompts: list[DatasetPrompt] = []
    seen: set[str] = set()
    fields: set[str] = set()
    count = skipped = duplicates = with_output = 0
    for number, row in rows:
        count += 1
        if not isinstance(row, dict):
            raise DatasetError(
                f"dataset {source}, row {number}: a row is an object with a "
                f"{prompt_field!r} field, not a {type(row).__name__}"
            )
        fields.update(str(k) for k in row)
        text = _prompt(row, prompt_field)
        if not text:
            skipped += 1
            continue
        output = _output_tokens(source, number, row, output_field)
        if output is not None:
            with_output += 1
        if deduplicate:
            if text in seen:
                duplicates += 1
                continue
            seen.add(text)
        prompts.append(DatasetPrompt(text=text, output_tokens=output))
    if count == 0:
        raise DatasetError(f"dataset {source} holds no rows")
    shown = ", ".join(sorted(fields)[:12]) or "none"
    if not prompts:  # every row was skipped: duplicates always leave their first
        raise DatasetError(
            f"dataset {source}: no row has a prompt in field {prompt_field!r} "
            f"(benchmark.dataset.prompt_field); the rows' fields are: {shown}"
        )
    if output_field is not None and with_output == 0:
        raise DatasetError(
            f"dataset {source}: no row has field {output_field!r} "
            f"(benchmark.dataset.output_tokens_field); the rows' fields are: {shown}"
        )
    return Dataset(
        source=source,
        prompts=tuple(prompts),
        rows=count,
        skipped=skipped,
        duplicates=duplicates,
        fields=tuple(sorted(fields)),
    )


def _prompt(row: dict[str, Any], prompt_field: str) -> str | None:
    value = row.get(prompt_field)
    if value is None and prompt_field == "prompt":
        value = next((row[f] for f in _TURN_FIELDS if row.get(f) is not None), None)
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, list):
        return _first_user_turn(value)
    return None


def _first_user_turn(turns: list[Any]) -> str | None:
    for turn in turns:
        if not isinstance(turn, dict):
            continue
        role = turn.get("role", turn.get("from"))
        if not isinstance(role, str) or role.lower() not in _USER_ROLES:
            continue
        content = turn.get("content", turn.get("value"))
        if isinstance(content, list):  # OpenAI content parts: keep the text ones
            content = "\n".join(
                p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
        if isinstance(content, str) and content.strip():
            return content
        return None
    return None


def _output_tokens(source: str, number: int, row: dict[str, Any], name: str | None) -> int | None:
    if name is None:
        return None
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    count: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        count = value
    elif isinstance(value, float) and value.is_integer():
        count = int(value)
    elif isinstance(value, str):
        stripped = value.strip()
        try:
            count = int(stripped)
        except ValueError:
            try:
                number_value = float(stripped)
            except ValueError:
                number_value = float("nan")
            count = int(number_value) if number_value.is_integer() else None
    if count is None or count < 1:
        raise DatasetError(
            f"dataset {source}, row {number}: field {name!r} "
            f"(benchmark.dataset.output_tokens_field) is {value!r}, not a token count of 1 or more"
        )
    return count
