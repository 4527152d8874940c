"""Optional token authentication for the REST API and the WebSockets.

Off by default (the embedded product on a laptop). With ``AUTOTUNER_AUTH_SECRET``
set, every ``/api`` request but ``/api/health`` needs a JWT signed with that
secret (HS256) carrying ``sub`` and ``exp``, in an ``Authorization: Bearer``
header or, for WebSockets from browsers (which cannot set headers on them), as
the subprotocol ``autotuner.bearer.<token>`` offered beside ``autotuner`` (the
server accepts with ``autotuner``). A ``token`` query parameter is still
accepted for old clients, but URLs end up in logs and histories: the product's
logs redact it (``autotuner.logs``). A token whose ``scope`` is ``read`` may
only read.

Refusals say what to fix: HTTP 401/403 with a JSON ``detail``; a WebSocket is
accepted and closed at once with code 4401 (or 4403), so a browser sees why.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs

import jwt
import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

ALGORITHM = "HS256"
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
PUBLIC_PATHS = frozenset({"/api/health"})
#: The WebSocket subprotocol the server speaks (and accepts with).
SUBPROTOCOL = "autotuner"
#: Prefix of the subprotocol that carries a browser's token.
TOKEN_SUBPROTOCOL = "autotuner.bearer."
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuthError(Exception):
    def __init__(self, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.forbidden = forbidden


def create_token(
    secret: str, subject: str, *, expires_in: float = 86_400, scope: str = "write"
) -> str:
    """A signed token for ``subject``, valid ``expires_in`` seconds."""
    if scope not in ("read", "write"):
        raise ValueError("scope must be 'read' or 'write'")
    now = int(time.time())
    claims = {"sub": subject, "iat": now, "exp": now + int(expires_in), "scope": scope}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str) -> dict[str, Any]:
    try:
        return jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired; get a new one with `autotuner token`") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token ({exc})") from exc


class AuthMiddleware:
    """Checks tokens before a request reaches a route.

    It never wraps ``receive`` or ``send`` of an accepted request, so the
    WebSocket fan-out keeps its direct path to the connection.
    """

    def __init__(self, app: ASGIApp, secret: str) -> None:
        self.app = app
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] not in ("http", "websocket")
            or not path.startswith("/api/")
            or path in PUBLIC_PATHS
        ):
            await self.app(scope, receive, send)
            return
        try:
            claims = verify_token(self.secret, _token(scope))
            if (
                scope["type"] == "http"
                and scope["method"] not in _READ_METHODS
                and claims.get("scope", "write") != "write"
            ):
                raise AuthError("this token may only read (scope 'read')", forbidden=True)
        except AuthError as exc:
            await _refuse(scope, receive, send, exc)
            return
        scope["auth"] = claims
        await self.app(scope, receive, send)


def _token(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            if kind.lower() == "bearer" and token.strip():
                return str(token.strip())
    if scope["type"] == "websocket":
        for protocol in scope.get("subprotocols") or ():
            if protocol.startswith(TOKEN_SUBPROTOCOL) and len(protocol) > len(TOKEN_SUBPROTOCOL):
                return str(protocol[len(TOKEN_SUBPROTOCOL) :])
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return str(query["token"][0])
    if scope["type"] == "websocket":  # a close reason holds 123 bytes
        raise AuthError(
            "authentication required: 'Authorization: Bearer <token>' or subprotocols "
            f"'{SUBPROTOCOL}', '{TOKEN_SUBPROTOCOL}<token>'"
        )
    raise AuthError(
        "authentication required: send 'Authorization: Bearer <token>'; `autotuner token` makes one"
    )


def accept_message(scope: Scope) -> dict[str, Any]:
    """The ``websocket.accept`` of a socket refused right after: with ``autotuner``
    when offered, so a browser completes the handshake and sees the close code."""
    message: dict[str, Any] = {"type": "websocket.accept"}
    if SUBPROTOCOL in (scope.get("subprotocols") or ()):
        message["subprotocol"] = SUBPROTOCOL
    return message


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: AuthError) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send(accept_message(scope))
        await send(
            {
                "type": "websocket.close",
                "code": CLOSE_FORBIDDEN if exc.forbidden else CLOSE_UNAUTHORIZED,
                "reason": str(exc).encode()[:123].decode(errors="ignore"),
            }
        )
        return
    status = 403 if exc.forbidden else 401
    body = orjson.dumps({"detail": str(exc)})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
