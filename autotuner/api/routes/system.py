"""Health, dashboard figures (workers, GPUs, live connections) and the examples."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import yaml
from fastapi import APIRouter

from autotuner import __version__
from autotuner.api.deps import EventStats, SettingsDep, StoreDep
from autotuner.domain import TaskSpec

router = APIRouter(prefix="/api", tags=["system"])

EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "examples"


@router.get("/health")
async def health(store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    try:
        database = await store.ping()
    except Exception:  # report it, do not crash the probe
        database = False
    body: dict[str, Any] = {
        "status": "ok" if database else "degraded",
        "version": __version__,
        "mode": "distributed" if settings.distributed else "embedded",
        "database": "ok" if database else "unreachable",
    }
    if database and store.write_error is not None:
        # Reads work but the last write failed (a full disk, a read-only file).
        since, reason = store.write_error
        body.update(status="degraded", database="writes failing", database_error=reason)
        body["database_error_since"] = since
    return body


@router.get("/system/workers")
async def workers(store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    seen_after = time.time() - settings.worker_stale_seconds
    return {
        "mode": "distributed" if settings.distributed else "embedded",
        "workers": await store.list_workers(seen_after),
    }


@router.get("/system/gpus")
async def gpus() -> dict[str, Any]:
    return await _query_gpus()


@router.get("/system/stats")
async def stats(figures: EventStats) -> dict[str, Any]:
    return figures


@router.get("/examples")
async def examples() -> list[dict[str, Any]]:
    return load_examples()


def load_examples(directory: Path = EXAMPLES_DIR) -> list[dict[str, Any]]:
    """The task files in ``examples/`` that validate, for the UI's one-click start."""
    found: list[dict[str, Any]] = []
    if not directory.is_dir():
        return found
    for path in sorted(directory.iterdir()):
        if path.suffix not in (".json", ".yaml", ".yml"):
            continue
        spec = yaml.safe_load(path.read_text())  # JSON is YAML
        try:
            TaskSpec.model_validate(spec)
        except ValueError:
            continue
        found.append(
            {
                "name": path.stem.replace("_", "-"),
                "filename": path.name,
                "description": spec.get("description", ""),
                "spec": spec,
            }
        )
    return found


async def _query_gpus() -> dict[str, Any]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return {"available": False, "gpus": [], "message": "no GPU (nvidia-smi not found)"}
    fields = "index,name,memory.total,memory.used,utilization.gpu"
    try:
        proc = await asyncio.create_subprocess_exec(
            smi,
            f"--query-gpu={fields}",
            "--format=csv,noheader,nounits",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=5)
    except (OSError, TimeoutError) as exc:
        return {"available": False, "gpus": [], "message": f"nvidia-smi failed: {exc}"}
    if proc.returncode != 0:
        message = err.decode(errors="replace").strip() or f"exit code {proc.returncode}"
        return {"available": False, "gpus": [], "message": f"no GPU ({message})"}
    gpus = []
    for line in out.decode().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 5:
            continue
        index, name, total, used, util = parts
        gpus.append(
            {
                "index": int(index),
                "name": name,
                "memory_total_mb": float(total),
                "memory_used_mb": float(used),
                "utilization_pct": float(util),
            }
        )
    return {"available": bool(gpus), "gpus": gpus, "message": None if gpus else "no GPU"}
