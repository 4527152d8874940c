"""Domain schemas shared by every layer: task spec, task, experiment, event.

This package imports nothing else of ours. Wire names are those of the REST API
(``/docs`` of a running server) and of ``docs/websocket.md``; task files are
accepted in the format the README describes (``examples/`` holds some).

- ``spec``: the task spec (:class:`TaskSpec` and its parts), bounded by
  ``_checks`` so that whatever validates can be stored, carried and run;
- ``scenarios``: the traffic-scenario grammar (:func:`parse_scenario`), the one
  parser of the spec's validation and the load generator;
- ``traffic``: the load levels a benchmark spec plans (:func:`plan_levels`) and
  the cross-field rules and warnings of its traffic fields;
- ``entities``: statuses, :class:`TaskPublic`, :class:`ExperimentPublic`,
  :class:`Event`.
"""

from autotuner.domain.engine import EngineSpec
from autotuner.domain.entities import (
    MAX_ID,
    Event,
    EventType,
    ExperimentPublic,
    ExperimentStatus,
    StoredEvent,
    TaskCreated,
    TaskPublic,
    TaskStatus,
    create_event,
)
from autotuner.domain.scenarios import MAX_TOKENS, Scenario, parse_scenario
from autotuner.domain.spec import (
    BenchmarkSpec,
    DeploymentMode,
    MetricSLO,
    ModelSpec,
    Objective,
    OptimizationSpec,
    SLOSpec,
    SLOThreshold,
    SpecWarning,
    StrategyName,
    TaskSpec,
)
from autotuner.domain.traffic import PlannedLevel, level_count, plan_levels

__all__ = [
    "EngineSpec",
    "MAX_ID",
    "MAX_TOKENS",
    "BenchmarkSpec",
    "DeploymentMode",
    "Event",
    "EventType",
    "ExperimentPublic",
    "ExperimentStatus",
    "MetricSLO",
    "ModelSpec",
    "Objective",
    "OptimizationSpec",
    "PlannedLevel",
    "SLOSpec",
    "SLOThreshold",
    "Scenario",
    "SpecWarning",
    "StoredEvent",
    "StrategyName",
    "TaskCreated",
    "TaskPublic",
    "TaskSpec",
    "TaskStatus",
    "create_event",
    "level_count",
    "parse_scenario",
    "plan_levels",
]
