"""Pieces shipped for tests and benchmarks.

``events_app``: a minimal ASGI app of the event pipeline. The contract suites
of the pluggable layers, one module each, are test classes to subclass with a
fixture that supplies the backend (optuna's ``optuna/testing`` does the same):
``transports`` (event transports), ``stores`` (databases), ``queues`` (task
queues), ``strategies`` (search strategies) and ``runtimes`` (engine runtimes).
They import pytest, so this package does not import them.
"""

from autotuner.testing.apps import events_app

__all__ = ["events_app"]
