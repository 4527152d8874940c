"""Host and Origin allow-lists: no DNS rebinding, no cross-site writes or sockets.

Every request's ``Host`` must be one the server answers to: ``localhost``,
``127.0.0.1`` and ``::1`` always, plus ``AUTOTUNER_ALLOWED_HOSTS`` or, when that is
not set, the host it is bound to (any host when bound to all interfaces). A page
on another site that rebinds its own name to 127.0.0.1 sends its own name as
``Host`` and is refused.

Writes (POST, PUT, PATCH, DELETE) and WebSocket handshakes that carry an
``Origin`` must come from the server's own origin (the request's ``Host``) or
one in ``AUTOTUNER_ALLOWED_ORIGINS``: browsers always send ``Origin`` on those,
so another site's page cannot start, cancel or watch tasks, with or without
auth. Requests without ``Origin`` (the CLI, scripts, curl) are not browsers
acting for someone else and pass.

Refusals say what to set: HTTP 403 with a JSON ``detail``; a WebSocket is
accepted and closed at once with 4403 and the reason. Like ``auth.py``, the
middleware never wraps ``receive`` or ``send`` of a request it lets through.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from autotuner.api.auth import CLOSE_FORBIDDEN, accept_message
from autotuner.config import Settings
from autotuner.logs import RateLimitedLog

log = logging.getLogger(__name__)
_refusals = RateLimitedLog(log, interval=5.0)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK = ("localhost", "127.0.0.1", "::1")
_ANY_INTERFACE = frozenset({"", "0.0.0.0", "::", "[::]"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def allowed_hosts(configured: Iterable[str], bound: str) -> list[str]:
    """The hosts served: the loopback names always (no rebinding attack can send
    them), and the configured ones, or else the bound host (any when bound to
    every interface)."""
    configured = [h for h in configured if h.strip()]
    if configured:
        return [*LOOPBACK, *configured]
    if bound.strip() in _ANY_INTERFACE:
        return ["*"]
    return [*LOOPBACK, bound]


def split_host(value: str) -> tuple[str, int | None]:
    """``(name, port)`` of a ``Host`` header value (``[::1]:8000``, ``example.com``)."""
    value = value.strip().lower()
    port: str | None = None
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        if rest.startswith(":"):
            port = rest[1:]
    elif value.count(":") == 1:
        name, port = value.split(":")
    else:
        name = value  # a bare name, or an unbracketed IPv6 address
    name = name.rstrip(".")
    if port is None or port == "":
        return name, None
    if not port.isdigit() or len(port) > 5 or int(port) > 65535:
        raise ValueError(f"bad port in {value!r}")
    return name, int(port)


def _origin_key(origin: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an origin, or None for ``null`` and garbage."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.rstrip("."), port or _DEFAULT_PORTS[parts.scheme]


class _HostPattern:
    __slots__ = ("any", "suffix", "name")

    def __init__(self, pattern: str) -> None:
        pattern = pattern.strip().lower()
        self.any = pattern == "*"
        self.suffix = pattern[1:] if pattern.startswith("*.") else None
        self.name = split_host(pattern)[0] if not self.any and self.suffix is None else ""

    def matches(self, name: str) -> bool:
        if self.any:
            return True
        if self.suffix is not None:
            return name.endswith(self.suffix)
        return name == self.name


class OriginMiddleware:
    """Refuses requests for a host this server does not serve, and writes and
    sockets sent by a browser from an origin it does not trust (see module doc)."""

    def __init__(
        self, app: ASGIApp, *, allowed_hosts: Iterable[str], allowed_origins: Iterable[str]
    ) -> None:
        self.app = app
        self.hosts = [_HostPattern(h) for h in allowed_hosts if h.strip()]
        origins = [o.strip() for o in allowed_origins if o.strip()]
        self.any_origin = "*" in origins
        self.origins = {key for key in map(_origin_key, origins) if key is not None}
        self.null_origin = "null" in origins

    @classmethod
    def options(cls, settings: Settings) -> dict[str, list[str]]:
        """The keyword arguments for ``add_middleware`` from the settings."""
        return {
            "allowed_hosts": allowed_hosts(settings.allowed_hosts, settings.host),
            "allowed_origins": settings.allowed_origins,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = origin = None
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"origin":
                origin = value.decode("latin-1")
        problem = self._check_host(host)
        checked = kind == "websocket" or scope.get("method") in WRITE_METHODS
        if problem is None and origin is not None and checked:
            problem = self._check_origin(origin, host)
        if problem is None:
            await self.app(scope, receive, send)
            return
        _refusals(
            "refused", "Refused %s %s: %s", scope.get("method", "WebSocket"), scope["path"], problem
        )
        await _refuse(scope, receive, send, problem)

    def _check_host(self, host: str | None) -> str | None:
        if host is None:
            return None  # HTTP/1.0 without Host: no name to rebind
        try:
            name, _ = split_host(host)
        except ValueError:
            return f"malformed Host header {host[:60]!r}"
        if any(p.matches(name) for p in self.hosts):
            return None
        return f"Host {name[:60]!r} is not served here: add it to AUTOTUNER_ALLOWED_HOSTS"

    def _check_origin(self, origin: str, host: str | None) -> str | None:
        if self.any_origin or (origin.strip() == "null" and self.null_origin):
            return None
        key = _origin_key(origin)
        if key is not None:
            if key in self.origins:
                return None
            if host is not None:
                try:
                    name, port = split_host(host)
                except ValueError:
                    name, port = "", None
                if (key[1], key[2]) == (name, port or _DEFAULT_PORTS[key[0]]):
                    return None  # same origin
        return f"origin {origin[:60]!r} is not allowed: add it to AUTOTUNER_ALLOWED_ORIGINS"


async def _refuse(scope: Scope, receive: Receive, send: Send, problem: str) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send(accept_message(scope))
        await send(
            {
                "type": "websocket.close",
                "code": CLOSE_FORBIDDEN,
                "reason": problem.encode()[:123].decode(errors="ignore"),
            }
        )
        return
    body = orjson.dumps({"detail": problem})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})
