"""The command line: ``serve``, ``worker``, ``run``, ``watch``, ``sim``."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from autotuner.config import Settings

app = typer.Typer(
    help="LLM inference autotuner with lossless live monitoring.",
    no_args_is_help=True,
    add_completion=False,
)

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def _logging(settings: Settings, logfile: str) -> None:
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    root.setLevel(settings.log_level.upper())
    stream = logging.StreamHandler()
    stream.setFormatter(logging.Formatter(_FORMAT))
    # The seed's debugging recipe: `tail -f logs/worker.log | grep EventBroadcaster`.
    file = logging.handlers.RotatingFileHandler(
        settings.logs_dir / logfile, maxBytes=20_000_000, backupCount=3
    )
    file.setFormatter(logging.Formatter(_FORMAT))
    root.handlers[:] = [stream, file]


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


def _load_spec(path: Path) -> dict[str, Any]:
    import yaml

    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        typer.echo(f"cannot read task file {path}: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not isinstance(spec, dict):
        typer.echo(f"task file {path} must hold a mapping of task fields", err=True)
        raise typer.Exit(2)
    return spec


@app.command()
def run(
    task_file: Annotated[Path, typer.Argument(help="task file, JSON or YAML")],
    server: Annotated[str, typer.Option(help="autotuner server URL")] = "http://127.0.0.1:8000",
    watch_events: Annotated[bool, typer.Option("--watch/--no-watch")] = True,
) -> None:
    """Create a task from a file on a running server, start it and follow it live."""
    import httpx

    spec = _load_spec(task_file)
    with httpx.Client(base_url=server, timeout=30) as client:
        try:
            created = client.post("/api/tasks", json=spec)
        except httpx.HTTPError as exc:
            typer.echo(f"cannot reach {server}: {exc}. Is `autotuner serve` running?", err=True)
            raise typer.Exit(1) from exc
        if created.status_code == 422:
            for err in created.json().get("detail", []):
                loc = ".".join(str(p) for p in err.get("loc", [])[1:])
                typer.echo(f"invalid task file: {loc or '(root)'}: {err.get('msg')}", err=True)
            raise typer.Exit(2)
        if created.status_code >= 400:
            typer.echo(f"server refused the task: {created.json().get('detail')}", err=True)
            raise typer.Exit(2)
        task = created.json()
        client.post(f"/api/tasks/{task['id']}/start").raise_for_status()
        typer.echo(f"task {task['id']} ({task['task_name']}) started")
    if watch_events:
        raise typer.Exit(asyncio.run(_watch(server, task["id"])))


@app.command()
def watch(
    task_id: Annotated[int, typer.Argument(help="task id")],
    server: Annotated[str, typer.Option(help="autotuner server URL")] = "http://127.0.0.1:8000",
    raw: Annotated[bool, typer.Option(help="print each event as JSON")] = False,
) -> None:
    """Follow a task's events live in the terminal (resumes across disconnects)."""
    raise typer.Exit(asyncio.run(_watch(server, task_id, raw=raw)))


async def _watch(server: str, task_id: int, *, raw: bool = False) -> int:
    import websockets

    url = server.replace("http", "ws", 1).rstrip("/") + f"/api/ws/tasks/{task_id}"
    last = 0
    delay = 1.0
    while True:
        try:
            async with websockets.connect(f"{url}?last_event_id={last}") as sock:
                delay = 1.0
                async for frame in sock:
                    msg = json.loads(frame)
                    if msg.get("id"):
                        last = msg["id"]
                    if raw:
                        print(frame, flush=True)
                    else:
                        _print_event(msg)
                    if msg.get("type") in ("task_completed", "task_failed", "task_cancelled"):
                        return 0 if msg["type"] == "task_completed" else 1
        except websockets.ConnectionClosedError as exc:
            if exc.rcvd is not None and exc.rcvd.code == 4404:
                print(f"task {task_id} not found", file=sys.stderr)
                return 2
        except OSError as exc:
            print(f"connection lost ({exc}); reconnecting in {delay:.0f}s", file=sys.stderr)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


def _print_event(msg: dict[str, Any]) -> None:
    kind = msg.get("type", "?")
    if kind == "connection_established":
        print(
            f"connected (newest event {msg.get('last_event_id')}, replayed {msg.get('replayed')})",
            flush=True,
        )
        return
    if kind == "benchmark_progress":
        p = msg.get("data", {}).get("progress", {})
        print(f"  [{msg.get('id')}] benchmark {p.get('completed')}/{p.get('total')}", flush=True)
        return
    line = f"[{msg.get('id', '-')}] {kind}: {msg.get('message', '')}"
    data = msg.get("data", {})
    if kind == "experiment_completed" and data.get("objective_score") is not None:
        line += f" (score {data['objective_score']:.4g})"
    print(line, flush=True)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sim(ctx: typer.Context) -> None:
    """Run the simulated OpenAI-compatible engine (a simulator, not a real model)."""
    from autotuner.sim import main

    raise typer.Exit(main(list(ctx.args)))


if __name__ == "__main__":  # pragma: no cover
    app()
