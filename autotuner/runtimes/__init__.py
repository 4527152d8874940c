"""Runtimes: deploy an engine configuration as a process and tear it down.

``get_runtime(deployment_mode, base_runtime)`` picks the backend: ``sim`` (the
built-in simulator) or ``local`` (vLLM, SGLang or llama.cpp on this machine).
``reap_orphans(directory)`` ends engines left running by a launcher that was
killed before it could stop them.
"""

from __future__ import annotations

from autotuner.runtimes._base import Deployment, DeploymentError, DeployRequest, Runtime
from autotuner.runtimes._orphans import reap_orphans
from autotuner.runtimes._process import ProcessDeployment, parameter_args, render_command
from autotuner.runtimes.local import PRESETS, EnginePreset, LocalRuntime, UnknownEngineError
from autotuner.runtimes.sim import SimRuntime

SUPPORTED_MODES = ("sim", "local")


class UnsupportedDeploymentModeError(ValueError):
    """The deployment mode exists in task files but not in this build (docker, ome)."""


def get_runtime(deployment_mode: str, base_runtime: str) -> Runtime:
    """The runtime for a task's ``deployment_mode`` and ``base_runtime``.

    Raises ``UnsupportedDeploymentModeError`` for ``docker``/``ome`` (and unknown
    modes) and ``UnknownEngineError`` for a ``local`` engine without a preset;
    both are ``ValueError``.
    """
    mode = deployment_mode.strip().lower()
    if mode == "sim":
        return SimRuntime()
    if mode == "local":
        return LocalRuntime(base_runtime)
    raise UnsupportedDeploymentModeError(
        f"deployment_mode {deployment_mode!r} is not supported by this build; "
        f"use 'sim' (built-in simulator) or 'local' (engine started on this machine)"
    )


__all__ = [
    "PRESETS",
    "SUPPORTED_MODES",
    "DeployRequest",
    "Deployment",
    "DeploymentError",
    "EnginePreset",
    "LocalRuntime",
    "ProcessDeployment",
    "Runtime",
    "SimRuntime",
    "UnknownEngineError",
    "UnsupportedDeploymentModeError",
    "get_runtime",
    "parameter_args",
    "reap_orphans",
    "render_command",
]
