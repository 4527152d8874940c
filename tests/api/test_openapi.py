"""The schema dump the frontend's wire types are generated from."""

from __future__ import annotations

import json
import subprocess
import sys

from autotuner.api.app import create_app
from autotuner.api.openapi import openapi_schema
from autotuner.config import Settings
from autotuner.domain import EventType


def test_the_dump_is_the_served_schema_plus_the_event_message() -> None:
    served = create_app(Settings()).openapi()
    dumped = openapi_schema()
    added = set(dumped["components"]["schemas"]) - set(served["components"]["schemas"])
    assert added == {"Event", "EventType"}
    for name, schema in served["components"]["schemas"].items():
        assert dumped["components"]["schemas"][name] == schema
    assert dumped["paths"] == served["paths"]


def test_every_field_of_an_event_is_required() -> None:
    schemas = openapi_schema()["components"]["schemas"]
    event = schemas["Event"]
    assert set(event["required"]) == set(event["properties"]) >= {"id", "type", "task_id", "data"}
    assert event["properties"]["type"] == {"$ref": "#/components/schemas/EventType"}
    assert schemas["EventType"]["enum"] == [t.value for t in EventType]


def test_the_module_prints_the_schema_as_json() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "autotuner.api.openapi"], check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(out) == openapi_schema()
