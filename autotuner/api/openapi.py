"""Print the API's OpenAPI schema, from which the frontend's wire types are generated.

``python -m autotuner.api.openapi > frontend/openapi.json`` (``make types``), then
``openapi-typescript`` turns it into ``frontend/src/lib/api-schema.d.ts``; both are
committed and ``make lint`` fails when they are stale.

The schema is the one the app serves at ``/openapi.json`` (default settings), plus
the WebSocket's event message (:class:`autotuner.domain.Event` and its
``EventType``): a WebSocket message is no REST response, so FastAPI's schema lacks
it, and without it the frontend would keep a second copy of the event's fields.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from autotuner.api.app import create_app
from autotuner.config import Settings
from autotuner.domain import Event

#: Models of WebSocket messages added to ``components.schemas``.
WEBSOCKET_MODELS = (Event,)


def openapi_schema(settings: Settings | None = None) -> dict[str, Any]:
    """The app's OpenAPI document with the WebSocket message models added."""
    schema = create_app(settings or Settings()).openapi()
    components: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in WEBSOCKET_MODELS:
        model_schema = model.model_json_schema(
            ref_template="#/components/schemas/{model}", mode="serialization"
        )
        for name, definition in model_schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        # A message is the whole model dumped: every field is present, defaulted or not.
        model_schema["required"] = list(model_schema["properties"])
        components[model.__name__] = model_schema
    return schema


def main() -> None:
    """Write the schema as indented JSON to stdout."""
    sys.stdout.write(json.dumps(openapi_schema(), indent=2) + "\n")


if __name__ == "__main__":
    main()
