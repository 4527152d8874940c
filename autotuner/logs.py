"""Log records that keep secrets out and cannot be forged.

Every line the product writes (its own loggers, uvicorn's access and error logs,
ARQ's, to stderr and to ``data/logs/*.log``) goes through :class:`SafeFormatter`:

- **redacted**: ``token=`` and ``access_token=`` query values, ``Authorization``
  header values, ``Bearer`` credentials, the ``autotuner.bearer.<token>``
  WebSocket subprotocol, passwords in URLs and anything shaped like a JWT
  become ``[REDACTED]``;
- **one record, one line**: newlines, carriage returns and every other control
  character in a message (a task name, an engine's error, a client's URL) are
  written as escapes (``\\n``, ``\\x1b`` …), so user text cannot start a line
  that looks like the product's. Tracebacks keep their lines, each indented, so
  only a record's first line starts at column 0.

Log files are created readable by their owner only (0600) in a 0700 directory.

Lines that could come once per event or per request (publishing, refusals) go
through :class:`RateLimitedLog`: INFO at most once per interval per key.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
REDACTED = "[REDACTED]"

_HINTS = ("token", "bearer", "authorization", "eyj", "://")
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # ?token=…, &access_token=… (also URL-encoded '=' as %3D)
    (
        re.compile(r"(?i)(\b(?:access_token|token)(?:=|%3D))[^&#\s\"'<>()\[\]{},;]+"),
        rf"\1{REDACTED}",
    ),
    # Authorization: <scheme> <credentials>, "authorization": "…", authorization=…
    (
        re.compile(
            r"(?i)(\bauthorization\b[\"']?\s*[:=,]\s*[\"']?(?:(?:bearer|basic|token)\s+)?)"
            r"[^\s\"',;)}\]]+"
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)(autotuner\.bearer\.)[A-Za-z0-9._~+/=-]+"), rf"\1{REDACTED}"),
    # A password in a URL: redis://:secret@host, postgresql://user:secret@host
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@"), rf"\1{REDACTED}@"),
    # A JWT anywhere: base64url '{"…' header and payload, then the signature.
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
]

# C0 controls but tab, DEL, C1 controls, and Unicode's line and paragraph separators.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def redact(text: str) -> str:
    """``text`` with credentials replaced by ``[REDACTED]``."""
    lowered = text.lower()
    if not any(hint in lowered for hint in _HINTS):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` on one line: control characters written as escapes."""
    return _CONTROL.sub(_escape_one, text)


def _indented(block: str) -> str:
    """A multi-line block (a traceback) with every line starting with whitespace,
    control characters other than the line breaks escaped."""
    lines = (escape(line) for line in block.splitlines())
    return "\n".join(line if line[:1].isspace() else "    " + line for line in lines)


class SafeFormatter(logging.Formatter):
    """A :class:`logging.Formatter` whose records are redacted and one line each
    (plus an indented traceback), whatever their message holds."""

    def __init__(self, fmt: str = FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape(redact(record.getMessage()))
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        extra = []
        if record.exc_info:
            extra.append(self.formatException(record.exc_info))
        elif record.exc_text:
            extra.append(record.exc_text)
        if record.stack_info:
            extra.append(self.formatStack(record.stack_info))
        if extra:
            line += "\n" + _indented(redact("\n".join(extra)))
        return line


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log file created (and kept) with mode 0600."""

    def _open(self):  # type: ignore[no-untyped-def]  # typeshed: TextIOWrapper
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)  # also a file left by an older version with 0644
        return open(fd, "a", encoding=self.encoding, errors=self.errors)  # noqa: SIM115

    #: A full disk fails every record: say so once a minute, not with a traceback each.
    error_interval = 60.0
    _last_error = float("-inf")
    dropped = 0

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        self.dropped += 1
        now = time.monotonic()
        if now - self._last_error < self.error_interval:
            return
        self._last_error = now
        exc = sys.exc_info()[1]
        with contextlib.suppress(Exception):
            sys.stderr.write(
                f"autotuner: cannot write the log file {self.baseFilename} "
                f"({type(exc).__name__}: {exc}); {self.dropped} record(s) not written so far, "
                "they still go to stderr\n"
            )


def configure(logfile: Path, level: str = "INFO") -> None:
    """Send the root logger (and so uvicorn's, ARQ's and ours) to stderr and to
    ``logfile``, both through :class:`SafeFormatter`."""
    logfile.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    root = logging.getLogger()
    root.setLevel(level.upper())
    formatter = SafeFormatter()
    stream = logging.StreamHandler()
    stream.setFormatter(formatter)
    # Event lines carry `[EventBroadcaster]` so that
    # `tail -f data/logs/worker.log | grep EventBroadcaster` follows them (README).
    file = PrivateRotatingFileHandler(logfile, maxBytes=20_000_000, backupCount=3)
    file.setFormatter(formatter)
    root.handlers[:] = [stream, file]


class RateLimitedLog:
    """INFO at most once per ``interval`` per key, DEBUG otherwise: greppable, cheap at scale."""

    def __init__(self, logger: logging.Logger, interval: float = 1.0) -> None:
        self._log = logger
        self._interval = interval
        self._last: dict[Any, tuple[float, int]] = {}

    def __call__(self, key: Any, msg: str, *args: Any) -> None:
        now = time.monotonic()
        last, skipped = self._last.get(key, (0.0, 0))
        if now - last >= self._interval:
            if skipped:
                msg += f" (+{skipped} more since the last line)"
            self._log.info(msg, *args)
            self._last[key] = (now, 0)
            if len(self._last) > 10_000:
                self._last.clear()
        else:
            self._last[key] = (last, skipped + 1)
            if self._log.isEnabledFor(logging.DEBUG):
                self._log.debug(msg, *args)
