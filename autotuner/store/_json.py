"""Event JSON that never fails to serialize.

orjson refuses integers beyond 64 bits, nesting deeper than 254 levels and lone
surrogates; pydantic refuses nesting past about 255 levels. A task stored
before today's validation can hold any of them in its spec, and every task
event carries the task: such values are made representable, so the event is
recorded (and the task can end) instead of raising.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import orjson
from pydantic import BaseModel


def json_snapshot(model: BaseModel) -> dict[str, Any]:
    """``model.model_dump(mode="json")``, and never fails: for a model holding what
    JSON serializers refuse (a spec nested deeper than pydantic's or orjson's
    limit, an integer beyond 64 bits), the same with those parts made
    representable (see ``representable``)."""
    try:
        return model.model_dump(mode="json")
    except (ValueError, TypeError, RecursionError):
        fields = {name: getattr(model, name) for name in type(model).model_fields}
        return cast(dict[str, Any], representable(fields))


def dumps(value: Any) -> bytes:
    """JSON for an event; never fails, so an odd spec cannot keep an event unrecorded.

    orjson refuses integers beyond 64 bits, nesting deeper than 254 levels and
    lone surrogates; an event holding such a value (a stored spec, say) is
    recorded with those parts made representable instead (see ``representable``).
    """
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return orjson.dumps(representable(value))


_MAX_DEPTH = 64
_INT_RANGE = (-(2**63), 2**64 - 1)


def representable(value: Any, depth: int = _MAX_DEPTH) -> Any:
    """``value`` with what JSON serializers refuse replaced: integers beyond 64 bits
    by their digits, lone surrogates by "?", nesting past ``depth`` by a note."""
    # Depth-bounded, so a pathological value costs at most ``depth`` frames.
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return value if _INT_RANGE[0] <= value <= _INT_RANGE[1] else str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return representable(json_snapshot(value), depth)
    if depth <= 0:
        return "(nested too deep to show)"
    if isinstance(value, dict):
        return {representable(str(k), depth): representable(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [representable(v, depth - 1) for v in value]
    return representable(str(value), depth)
