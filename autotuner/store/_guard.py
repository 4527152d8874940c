"""Store calls that finish what they start, and outages as one exception.

Every public ``Store`` method is wrapped by :func:`guarded`: its transaction
runs in a task of its own, shielded from the caller's cancellation. A write cut
between its UPDATE and its COMMIT (a task runner cancelled the moment it wrote,
which ``start`` followed at once by ``cancel`` does) kept SQLite's write lock,
and every later write waited out the 30 s busy timeout, then failed with
"database is locked".
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


class StoreUnavailable(Exception):
    """The database cannot be reached or written now (disk full, I/O error, lost
    connection). Not the request's fault: retry once the database is back."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the database is unavailable: {reason}")
        self.reason = reason


P = ParamSpec("P")
R = TypeVar("R")


def guarded(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run ``method`` to its end even if the caller is cancelled; translate outages.

    The transaction runs in a task of its own, shielded: cancelling the caller
    (a cancelled task runner, a timeout, a closed WebSocket) waits for it to
    commit or roll back, then raises ``CancelledError``.
    """

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        job = asyncio.ensure_future(_translated(method(*args, **kwargs)))
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            while not job.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(job)
            if not job.cancelled():
                job.exception()  # retrieved: the caller is gone, nobody else will
            raise

    return wrapper


async def _translated(call: Awaitable[R]) -> R:
    try:
        return await call
    except (OperationalError, InterfaceError) as exc:
        raise StoreUnavailable(_reason(exc)) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StoreUnavailable(_reason(exc)) from exc
        raise
    except (OSError, TimeoutError) as exc:  # connecting failed before any driver error
        raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc


def _reason(exc: DBAPIError) -> str:
    # The driver's message only: the statement and its parameters stay out of
    # answers and logs.
    orig = exc.orig if exc.orig is not None else exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
