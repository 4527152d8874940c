"""Runtime contract: deploy one engine configuration, hand back its endpoint, tear it down.

A runtime knows nothing of the web, the database or events. The task runner
calls ``deploy`` for each experiment and always calls ``Deployment.stop`` (also
on cancel and on failure): a deployment must leave no process behind.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class DeploymentError(Exception):
    """The engine did not come up; ``str(exc)`` says why (e.g. out of memory).

    ``log_tail`` holds the last lines the engine printed, for the experiment's error.
    """

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


@dataclass
class DeployRequest:
    """What to deploy: the task's engine, model and one point of the search space."""

    task_name: str
    experiment_id: int
    base_runtime: str
    model: str
    parameters: dict[str, Any]
    log_dir: Path
    timeout: float = 600.0
    extra: dict[str, Any] = field(default_factory=dict)


class Deployment(abc.ABC):
    """A running engine with an OpenAI-compatible HTTP endpoint."""

    base_url: str
    """e.g. ``http://127.0.0.1:41234`` (no ``/v1``)."""
    model_name: str
    """The model name to send in requests."""
    command: list[str]
    """The exact command line that started the engine, to reproduce it by hand."""
    log_path: Path | None

    @abc.abstractmethod
    async def stop(self) -> None:
        """Terminate the engine and wait for it to exit. Idempotent; never raises."""


class Runtime(abc.ABC):
    """Starts engines for one ``deployment_mode``."""

    name: str

    @abc.abstractmethod
    async def deploy(self, request: DeployRequest) -> Deployment:
        """Start the engine and return once it answers its health check.

        Raises ``DeploymentError`` when it fails to start (the started process is
        already torn down then). Cancellation of the awaiting task must also tear
        it down.
        """
