"""Pieces shipped for tests and benchmarks of the event pipeline."""

from autotuner.testing.apps import events_app

__all__ = ["events_app"]
