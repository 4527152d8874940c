"""Domain schemas shared by every layer: task spec, task, experiment, event.

This package imports nothing else of ours. Wire names are those of the REST API
(``/docs`` of a running server) and of ``docs/websocket.md``; task files are
accepted in the format the README describes (``examples/`` holds some).

- ``spec``: the task spec (:class:`TaskSpec` and its parts), bounded by
  ``_checks`` so that whatever validates can be stored, carried and run;
- ``entities``: statuses, :class:`TaskPublic`, :class:`ExperimentPublic`,
  :class:`Event`.
"""

from autotuner.domain.entities import (
    MAX_ID,
    Event,
    EventType,
    ExperimentPublic,
    ExperimentStatus,
    StoredEvent,
    TaskPublic,
    TaskStatus,
    create_event,
)
from autotuner.domain.spec import (
    BenchmarkSpec,
    DeploymentMode,
    MetricSLO,
    ModelSpec,
    Objective,
    OptimizationSpec,
    SLOSpec,
    SLOThreshold,
    StrategyName,
    TaskSpec,
)

__all__ = [
    "MAX_ID",
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
    "SLOSpec",
    "SLOThreshold",
    "StoredEvent",
    "StrategyName",
    "TaskPublic",
    "TaskSpec",
    "TaskStatus",
    "create_event",
]
