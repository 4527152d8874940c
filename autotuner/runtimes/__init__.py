"""Runtimes: deploy an engine configuration as a process and tear it down.

``get_runtime(deployment_mode, base_runtime)`` picks the backend: ``sim`` (the
built-in simulator) or ``local`` (vLLM, SGLang or llama.cpp on this machine).
``reap_orphans(directory)`` ends engines left running by a launcher that was
killed before it could stop them. ``parameter_problems`` says which parameter
names a task may not tune on its engine (the flags the product sets itself).
"""

from __future__ import annotations

from collections.abc import Iterable

from autotuner.runtimes._base import Deployment, DeploymentError, DeployRequest, Runtime
from autotuner.runtimes._flags import COMMON_RESERVED, normalize_flag, reserved_problem
from autotuner.runtimes._orphans import reap_orphans
from autotuner.runtimes._process import ProcessDeployment, parameter_args, render_command
from autotuner.runtimes.local import (
    PRESETS,
    EnginePreset,
    LocalRuntime,
    UnknownEngineError,
    get_preset,
)
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


def parameter_problems(
    deployment_mode: str, base_runtime: str, names: Iterable[str]
) -> dict[str, str]:
    """Parameter name -> why a task on this engine may not tune it.

    Raises ``UnknownEngineError`` when ``local`` names an engine with no preset.
    Other modes (``docker``, ``ome``: refused when started) are checked against
    the preset of ``base_runtime`` when there is one.
    """
    mode = deployment_mode.strip().lower()
    translate = None
    reserved: frozenset[str] = COMMON_RESERVED
    if mode == "sim":
        reserved = SimRuntime.reserved
    elif mode == "local":
        preset = get_preset(base_runtime)
        reserved, translate = preset.reserved, preset.translate
    else:
        try:
            preset = get_preset(base_runtime)
            reserved, translate = preset.reserved, preset.translate
        except UnknownEngineError:
            pass
    problems = {}
    for name in names:
        problem = reserved_problem(name, reserved, translate)
        if problem is not None:
            problems[name] = problem
    return problems


__all__ = [
    "COMMON_RESERVED",
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
    "get_preset",
    "get_runtime",
    "normalize_flag",
    "parameter_args",
    "parameter_problems",
    "reap_orphans",
    "render_command",
]
