"""422 bodies that can always be written, whatever the refused input held.

FastAPI echoes each error's ``input``. An input can be what made it invalid: a
lone surrogate or a NaN (which JSON cannot carry), or a megabyte of text. Such
inputs are echoed as a short, escaped ``repr`` instead, and locations (which
may hold a refused key) are escaped the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel

MAX_ECHO = 1_000  # bytes of an input echoed as it was
MAX_ECHO_DEPTH = 32


def validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI's shape (loc/msg/type/input/ctx), safe to serialize, with pydantic's
    "Value error, " prefix dropped from our own validators' messages."""
    out = []
    for err in errors:
        item = dict(err)
        item["msg"] = _text(str(item.get("msg", "")).removeprefix("Value error, "))
        item["loc"] = [p if isinstance(p, int) else _text(str(p)) for p in item.get("loc", ())]
        if "input" in item:
            item["input"] = _echo(item["input"])
        if isinstance(item.get("ctx"), dict):  # an object, as the schema says
            ctx = jsonable_encoder(item["ctx"], custom_encoder={Exception: str})
            item["ctx"] = {str(key): _echo(value) for key, value in ctx.items()}
        out.append(jsonable_encoder(item))
    return out


def _echo(value: Any) -> Any:
    if _deeper_than(value, MAX_ECHO_DEPTH):
        # Encoding it (jsonable_encoder, repr, json) would recurse as deep as it goes.
        return f"(a value nested deeper than {MAX_ECHO_DEPTH} levels)"
    try:
        value = jsonable_encoder(value)
        # As the response will be written: no NaN, UTF-8 only.
        if len(json.dumps(value, allow_nan=False, ensure_ascii=False).encode()) <= MAX_ECHO:
            return value
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError: a ValueError
        pass
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + f"... ({len(text):,} characters)"


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, (list, tuple)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in item)
    return False


def _text(value: str) -> str:
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")


class ErrorDetail(BaseModel):
    """Every refusal but a validation error: what went wrong and what to do."""

    detail: str


_DESCRIPTIONS = {
    400: "the body is not JSON the server can parse",
    401: "missing, invalid or expired token (with AUTOTUNER_AUTH_SECRET set)",
    403: "token may not do this, or Origin/Host not allowed",
    404: "unknown task or experiment",
    409: "not possible in the task's current state (or a duplicate task_name)",
    413: "request body larger than AUTOTUNER_MAX_BODY_BYTES",
    503: "database or Redis unavailable now; nothing was changed, retry",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the refusals a group of routes can answer."""
    return {code: {"model": ErrorDetail, "description": _DESCRIPTIONS[code]} for code in codes}
