"""The command line: ``serve``, ``worker``, ``run``, ``watch``, ``bench``, ``sim``."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import typer

from autotuner.cli_bench import bench
from autotuner.cli_levels import level_lines
from autotuner.cli_levels import safe as _safe
from autotuner.config import Settings

app = typer.Typer(
    help="LLM inference autotuner with lossless live monitoring.",
    no_args_is_help=True,
    add_completion=False,
)


def _logging(settings: Settings, logfile: str) -> None:
    # Redacted, one line per record, files 0600: see autotuner.logs.
    from autotuner import logs

    logs.configure(settings.logs_dir / logfile, settings.log_level)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="interface to bind")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
) -> None:
    """Start the API, the WebSockets and the UI (and, without Redis, the worker)."""
    import uvicorn

    from autotuner.api.app import create_app

    settings = Settings()
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    _logging(settings, "server.log")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_ping_interval,
        # A client that stops reading stops answering pings too: let the send
        # timeout cut it off first, with 4429 and the id to resume from.
        ws_ping_timeout=max(20.0, settings.ws_send_timeout + 10.0),
        # Clients only send pings: a larger frame is refused (1009), not buffered.
        ws_max_size=64 * 1024,
        timeout_graceful_shutdown=5,
    )


@app.command()
def worker() -> None:
    """Run tasks from the Redis queue (distributed mode; needs AUTOTUNER_REDIS_URL)."""
    settings = Settings()
    if not settings.redis_url:
        typer.echo(
            "autotuner worker needs Redis: set AUTOTUNER_REDIS_URL (e.g. "
            "redis://127.0.0.1:6379/0) and AUTOTUNER_DATABASE_URL (PostgreSQL) for the "
            "distributed mode. Without Redis, `autotuner serve` runs tasks itself.",
            err=True,
        )
        raise typer.Exit(2)
    _logging(settings, "worker.log")
    from autotuner.worker.arq_worker import create_worker

    create_worker(settings).run()


TokenOption = Annotated[
    str | None,
    typer.Option(envvar="AUTOTUNER_TOKEN", help="API token, when the server requires one"),
]


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@app.command()
def token(
    subject: Annotated[str, typer.Option(help="who the token is for")] = "autotuner",
    expires_in: Annotated[float, typer.Option(help="lifetime in hours")] = 24.0,
    read_only: Annotated[bool, typer.Option(help="may read but not change anything")] = False,
) -> None:
    """Print an API token signed with AUTOTUNER_AUTH_SECRET."""
    from autotuner.api.auth import create_token

    settings = Settings()
    if settings.auth_secret is None:
        typer.echo("set AUTOTUNER_AUTH_SECRET (the secret the server checks tokens with)", err=True)
        raise typer.Exit(2)
    typer.echo(
        create_token(
            settings.auth_secret.get_secret_value(),
            subject,
            expires_in=expires_in * 3600,
            scope="read" if read_only else "write",
        )
    )


# A task file is a few kilobytes; the server accepts bodies of 1 MiB by default.
MAX_TASK_FILE_BYTES = 1 << 20


def _task_file_loader() -> type:
    """YAML's safe loader without aliases (an alias bomb expands exponentially
    once serialized) and with dates left as text (JSON has no dates)."""
    import yaml

    class TaskFileLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"task files may not use YAML aliases (*{event.anchor}): write the "
                    "value out where it is used",
                    event.start_mark,
                )
            return super().compose_node(parent, index)

    timestamp = "tag:yaml.org,2002:timestamp"
    TaskFileLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != timestamp]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return TaskFileLoader


def _load_spec(path: Path) -> dict[str, Any]:
    """The task file as a JSON-serializable mapping; exits with code 2 saying why not."""
    import yaml

    def refuse(reason: str) -> typer.Exit:
        typer.echo(f"cannot read task file {path}: {reason}", err=True)
        return typer.Exit(2)

    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_TASK_FILE_BYTES + 1)
    except OSError as exc:
        raise refuse(str(exc)) from exc
    if len(data) > MAX_TASK_FILE_BYTES:
        raise refuse(f"it is larger than {MAX_TASK_FILE_BYTES:,} bytes")
    try:
        spec = yaml.load(data, Loader=_task_file_loader())
    except yaml.YAMLError as exc:
        raise refuse(str(exc)) from exc
    except RecursionError as exc:
        raise refuse("it nests too deeply") from exc
    if not isinstance(spec, dict):
        typer.echo(f"task file {path} must hold a mapping of task fields", err=True)
        raise typer.Exit(2)
    try:
        # NaN and Infinity are sent as such, for the server to name the field.
        json.dumps(spec, allow_nan=True)
    except (TypeError, ValueError, RecursionError) as exc:
        raise refuse(f"it holds a value JSON cannot carry ({exc})") from exc
    return spec


@app.command()
def run(
    task_file: Annotated[Path, typer.Argument(help="task file, JSON or YAML")],
    server: Annotated[str, typer.Option(help="autotuner server URL")] = "http://127.0.0.1:8000",
    watch_events: Annotated[bool, typer.Option("--watch/--no-watch")] = True,
    token: TokenOption = None,
) -> None:
    """Create a task from a file on a running server, start it and follow it live."""
    import httpx

    spec = _load_spec(task_file)
    try:
        with httpx.Client(base_url=server, timeout=30, headers=_headers(token)) as client:
            created = client.post(
                "/api/tasks",
                content=json.dumps(spec, allow_nan=True),
                headers={"content-type": "application/json"},
            )
            if created.status_code == 422:
                for problem in _invalid_fields(created):
                    typer.echo(f"invalid task file: {_safe(problem)}", err=True)
                raise typer.Exit(2)
            if created.status_code >= 400:
                typer.echo(f"server refused the task: {_safe(_detail(created))}", err=True)
                raise typer.Exit(2)
            task = created.json()
            for warning in task.get("warnings") or []:
                typer.echo(
                    f"warning: {_safe(warning.get('field'))}: {_safe(warning.get('message'))}",
                    err=True,
                )
            started = client.post(f"/api/tasks/{task['id']}/start")
            if started.status_code >= 400:
                typer.echo(
                    f"task {_safe(task['id'])} was created but not started: "
                    f"{_safe(_detail(started))}",
                    err=True,
                )
                raise typer.Exit(1)
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach {server}: {_safe(exc)}. Is `autotuner serve` running?", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"task {_safe(task['id'])} ({_safe(task['task_name'])}) started")
    if watch_events:
        raise typer.Exit(_follow(server, task["id"], raw=False, reached=True, token=token))


def _detail(response: Any) -> str:
    """The ``detail`` of an error response, or the start of its body."""
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"


def _invalid_fields(response: Any) -> list[str]:
    """``field.path: message`` for each error of a 422 answer."""
    try:
        detail = response.json()["detail"]
    except (ValueError, KeyError, TypeError):
        return [_detail(response)]
    if not isinstance(detail, list):
        return [str(detail)]
    problems = []
    for err in detail:
        loc = ".".join(str(p) for p in err.get("loc", [])[1:])  # [0] is "body"
        problems.append(f"{loc or '(root)'}: {err.get('msg')}")
    return problems


@app.command()
def watch(
    task_id: Annotated[int, typer.Argument(help="task id")],
    server: Annotated[str, typer.Option(help="autotuner server URL")] = "http://127.0.0.1:8000",
    raw: Annotated[bool, typer.Option(help="print each event as JSON")] = False,
    token: TokenOption = None,
) -> None:
    """Follow a task's events live in the terminal (resumes across disconnects)."""
    raise typer.Exit(_follow(server, task_id, raw=raw, token=token))


class _OutputClosed(Exception):
    """Standard output was closed by its reader (``autotuner watch 3 | head``)."""


_TERMINAL = ("task_completed", "task_failed", "task_cancelled")


def _follow(
    server: str, task_id: int, *, raw: bool, reached: bool = False, token: str | None = None
) -> int:
    """Print a task's events until it ends; the exit code: 0 completed, 1 failed
    or cancelled (or the server could not be reached), 2 no such task."""
    try:
        return asyncio.run(_watch(server, task_id, raw=raw, reached=reached, token=token))
    except KeyboardInterrupt:
        print(f"\nstopped following task {task_id} (the task itself goes on)", file=sys.stderr)
        return 130
    except _OutputClosed:
        # Keep the interpreter's final flush from failing on the closed pipe too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


async def _watch(
    server: str,
    task_id: int,
    *,
    raw: bool = False,
    reached: bool = False,
    token: str | None = None,
) -> int:
    """Follow the task's socket, resuming after the last event seen on every reconnect.

    The first connection failing means a wrong URL or no server (exit 1), unless
    ``reached``; later failures are retried, with backoff, for ever.
    """
    import httpx
    import websockets

    base = server.rstrip("/")
    url = base.replace("http", "ws", 1) + f"/api/ws/tasks/{task_id}"
    last = 0
    delay = 1.0
    while True:
        try:
            # No frame size limit: an event too big for it would be refused on
            # every reconnect, and the stream could never get past it.
            async with websockets.connect(
                f"{url}?last_event_id={last}", max_size=None, additional_headers=_headers(token)
            ) as sock:
                reached = True
                delay = 1.0
                async for frame in sock:
                    msg = json.loads(frame)
                    if msg.get("type") == "resync_required":
                        # More events were missed than a reconnect replays: read
                        # them by REST, then the socket goes on after them.
                        missed = _missed(base, task_id, last, msg["last_event_id"], token)
                        async for event in missed:
                            last = event["id"]
                            _show(event, json.dumps(event, separators=(",", ":")), raw)
                            if event["type"] in _TERMINAL:
                                return 0 if event["type"] == "task_completed" else 1
                        last = max(last, msg["last_event_id"])
                        continue
                    if msg.get("id"):
                        last = msg["id"]
                    _show(msg, str(frame), raw)
                    if msg.get("type") in _TERMINAL:
                        return 0 if msg["type"] == "task_completed" else 1
            print("connection closed by the server; reconnecting", file=sys.stderr)
        except websockets.ConnectionClosedError as exc:
            if exc.rcvd is not None and exc.rcvd.code == 4404:
                print(f"task {task_id} not found on {server}", file=sys.stderr)
                return 2
            if exc.rcvd is not None and exc.rcvd.code in (4401, 4403):
                print(f"not allowed: {_safe(exc.rcvd.reason)} (see --token)", file=sys.stderr)
                return 2
            code = exc.rcvd.code if exc.rcvd is not None else "none"
            print(f"connection closed (code {code}); reconnecting", file=sys.stderr)
        except (
            OSError,
            httpx.HTTPError,
            websockets.InvalidHandshake,
            websockets.InvalidURI,
        ) as exc:
            if not reached:
                print(
                    f"cannot connect to {url}: {_safe(exc)}. Is `autotuner serve` running?",
                    file=sys.stderr,
                )
                return 1
            print(f"connection lost ({_safe(exc)}); reconnecting in {delay:.0f}s", file=sys.stderr)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


async def _missed(
    base: str, task_id: int, after: int, newest: int, token: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """The task's events ``after < id <= newest``, from its REST history."""
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=30, headers=_headers(token)) as client:
        while after < newest:
            response = await client.get(
                f"/api/tasks/{task_id}/events", params={"after": after, "limit": 1000}
            )
            response.raise_for_status()
            page = [e for e in response.json() if e["id"] <= newest]
            if not page:
                return
            for event in page:
                yield event
            after = page[-1]["id"]


def _show(msg: dict[str, Any], frame: str, raw: bool) -> None:
    try:
        if raw:
            # Escaped characters stay inside JSON strings: the line is still JSON.
            print(_safe(frame), flush=True)
        else:
            _print_event(msg)
    except BrokenPipeError as exc:
        raise _OutputClosed from exc


def _print_event(msg: dict[str, Any]) -> None:
    kind = _safe(msg.get("type", "?"))
    if kind == "connection_established":
        newest, replayed = _safe(msg.get("last_event_id")), _safe(msg.get("replayed"))
        print(f"connected (newest event {newest}, replayed {replayed})", flush=True)
        return
    if kind == "benchmark_progress":
        p = msg.get("data", {}).get("progress", {})
        done, total = _safe(p.get("completed")), _safe(p.get("total"))
        print(f"  [{_safe(msg.get('id'))}] benchmark {done}/{total}", flush=True)
        return
    line = f"[{_safe(msg.get('id', '-'))}] {kind}: {_safe(msg.get('message', ''))}"
    data = msg.get("data", {})
    if kind == "experiment_completed" and data.get("objective_score") is not None:
        line += f" (score {data['objective_score']:.4g})"
    summary = data.get("summary") or {}
    if kind == "task_completed" and summary.get("best_experiment_id") is not None:
        best = summary.get("best_parameters") or {}
        params = " ".join(f"--{_safe(k)} {_safe(v)}" for k, v in best.items())
        line += f"\n  best: score {summary['best_score']:.4g} with {params}"
    if kind in ("experiment_completed", "experiment_failed"):
        # Each load level's figures, SLO violations and untrusted marks.
        line = "\n".join([line, *level_lines(data.get("metrics"))])
    print(line, flush=True)


# Server-provided text is printed through _safe (autotuner.cli_levels.safe): escaped
# control characters cannot move the cursor, recolour or forge lines.
app.command()(bench)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sim(ctx: typer.Context) -> None:
    """Run the simulated OpenAI-compatible engine (a simulator, not a real model)."""
    from autotuner.sim import main

    raise typer.Exit(main(list(ctx.args)))


if __name__ == "__main__":  # pragma: no cover
    app()
