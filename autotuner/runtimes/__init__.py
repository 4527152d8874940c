"""Runtimes: deploy an engine configuration as a process and tear it down.

``get_runtime(deployment_mode, base_runtime)`` picks the backend: ``sim`` (the
built-in simulator) or ``local`` (vLLM, SGLang or llama.cpp on this machine).
``reap_orphans(directory)`` ends engines left running by a launcher that was
killed before it could stop them. ``parameter_problems`` says which parameter
names a task may not tune on its engine (the flags the product sets itself).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from autotuner.domain import EngineSpec
from autotuner.runtimes._base import Deployment, DeploymentError, DeployRequest, Runtime
from autotuner.runtimes._flags import COMMON_RESERVED, flag_of, normalize_flag, reserved_problem
from autotuner.runtimes._orphans import reap_orphans
from autotuner.runtimes._process import ProcessDeployment, parameter_args, render_command
from autotuner.runtimes.local import (
    PRESETS,
    EnginePreset,
    LocalRuntime,
    UnknownEngineError,
    get_preset,
)
from autotuner.runtimes.schemas import get_schema, parameter_problem, unknown_flag_message
from autotuner.runtimes.sim import SIM_ENGINES, SIM_KNOBS, SimRuntime, sim_engine

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
    deployment_mode: str,
    base_runtime: str,
    parameters: Mapping[str, Iterable[Any]] | Iterable[str],
    *,
    custom_command: bool = False,
    engine_python: str | None = None,
) -> dict[str, str]:
    """Parameter name -> why a task on this engine may not tune it.

    Refused: flags the product sets itself (``_flags``), and, where the engine
    has a schema (``schemas``: vLLM, SGLang, llama.cpp, also for the simulator,
    which imitates vLLM or SGLang), names the engine does not know and values of
    the wrong type. ``parameters`` maps names to their values (or is just the
    names). ``custom_command``: the task gives its own command template, which
    may start another engine, so only the owned flags are checked.
    ``engine_python``: the interpreter the engine runs with (vLLM's own venv),
    whose installed parser then is the schema (see ``schemas.get_schema``).

    Raises ``UnknownEngineError`` when ``local`` names an engine with no preset,
    or ``sim`` one it does not imitate. Other modes (``docker``, ``ome``: refused
    when started) are checked against the preset of ``base_runtime`` when there
    is one.
    """
    values: Mapping[str, Iterable[Any]] = (
        parameters if isinstance(parameters, Mapping) else dict.fromkeys(parameters, ())
    )
    mode = deployment_mode.strip().lower()
    reserved, translate, engine = _engine_context(mode, base_runtime)
    schema = None
    if engine is not None and not custom_command:
        schema = get_schema(engine, engine_python)
    problems = {}
    for name, given in values.items():
        problem = reserved_problem(name, reserved, translate)
        if problem is None and schema is not None:
            if mode == "sim" and normalize_flag(name).startswith("sim-"):
                problem = _sim_knob_problem(name)
            else:
                problem = parameter_problem(schema, name, given, translate)
        if problem is not None:
            problems[name] = problem
    return problems


def engine_arg_problems(
    deployment_mode: str,
    base_runtime: str,
    args: Iterable[str],
    parameter_names: Iterable[str] = (),
    *,
    custom_command: bool = False,
    engine_python: str | None = None,
) -> dict[int, str]:
    """Index in ``engine.args`` -> why that argument may not be passed.

    Each flag in ``args`` (``--x``, ``--x=1``, ``-q``; values are not checked) is
    refused when the product sets it, when it is tuned in ``parameters`` (the
    two would contradict each other), and, without ``custom_command``, when the
    engine's schema does not know it. Raises ``UnknownEngineError`` as
    ``parameter_problems`` does.
    """
    mode = deployment_mode.strip().lower()
    reserved, translate, engine = _engine_context(mode, base_runtime)
    schema = None
    if engine is not None and not custom_command:
        schema = get_schema(engine, engine_python)
    tuned = {normalize_flag(n): n for n in parameter_names}
    if schema is not None:
        for tuned_name in list(tuned.values()):
            written = tuned_name if translate is None else next(iter(translate({tuned_name: 0})))
            flag = schema.lookup(written)
            if flag is not None:
                tuned[normalize_flag(flag.name)] = tuned_name
    problems: dict[int, str] = {}
    for i, arg in enumerate(args):
        name = flag_of(arg)
        if name is None:
            continue
        problem = reserved_problem(name.lstrip("-"), reserved)
        flag = schema.lookup(name) if schema is not None else None
        key = normalize_flag(flag.name if flag is not None else name)
        if problem is None and key in tuned:
            problem = f"{name} is tuned in parameters ({tuned[key]!r}); remove it from engine.args"
        sim_knob = mode == "sim" and key in SIM_KNOBS
        if problem is None and schema is not None and flag is None and not sim_knob:
            problem = unknown_flag_message(schema, name)
        if problem is not None:
            problems[i] = problem
    return problems


def engine_extra(engine: EngineSpec, *, allow_custom: bool) -> dict[str, Any]:
    """``DeployRequest.extra`` from a task's ``engine`` section: ``env``, ``args``, ``command``.

    Raises ``DeploymentError`` for a command template or a code-loading variable
    when the operator does not allow custom engines (a task stored before the
    setting was turned off is refused here, not run).
    """
    if not allow_custom and (engine.command is not None or engine.code_env()):
        raise DeploymentError(
            "the task gives its own engine command or code-loading environment "
            "(engine.command, engine.env), and this worker does not allow custom engines "
            "(AUTOTUNER_ALLOW_CUSTOM_ENGINES)"
        )
    extra: dict[str, Any] = {}
    if engine.env:
        extra["env"] = dict(engine.env)
    if engine.args:
        extra["args"] = list(engine.args)
    if engine.command is not None:
        extra["command"] = engine.command
    return extra


def _engine_context(
    mode: str, base_runtime: str
) -> tuple[frozenset[str], Callable[[dict[str, Any]], dict[str, Any]] | None, str | None]:
    """(flags the product owns, the preset's name translation, the schema's engine)."""
    if mode == "sim":
        engine = sim_engine(base_runtime)
        if engine is None:
            raise UnknownEngineError(
                f"base_runtime {base_runtime!r}: the simulator (deployment_mode 'sim') "
                f"imitates {' or '.join(SIM_ENGINES)}; use one of them"
            )
        return SimRuntime.reserved, None, engine
    if mode == "local":
        preset = get_preset(base_runtime)
        return preset.reserved, preset.translate, preset.schema
    try:
        preset = get_preset(base_runtime)
    except UnknownEngineError:
        return COMMON_RESERVED, None, None
    return preset.reserved, preset.translate, preset.schema


def _sim_knob_problem(name: str) -> str | None:
    if normalize_flag(name) in SIM_KNOBS:
        return None
    return f"{name!r} is not a knob of the simulator; its own are {', '.join(sorted(SIM_KNOBS))}"


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
    "engine_arg_problems",
    "engine_extra",
    "get_preset",
    "get_runtime",
    "normalize_flag",
    "parameter_args",
    "parameter_problems",
    "reap_orphans",
    "render_command",
]
