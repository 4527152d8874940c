"""Reading a task's history from the event log: bounded pages and resume plans.

A (re)connecting client gives the last id it saw; :func:`plan_replay` says what
it is owed (the events after it, up to the newest at subscription time) or why
it must refetch instead (too far behind, or ahead of the log). Every read from
the log, for a replay or for the hub's gap fills, comes in pages of at most
``PAGE`` events and about ``PAGE_BYTES`` bytes, so memory per reader stays
bounded however large the events are.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from autotuner.events._base import EventLog, StoredEvent
from autotuner.events.subscriber import Subscriber

#: Events read from the store per query when filling a gap or replaying ...
PAGE = 500
#: ... and at most about this many bytes of them (a page holds at least one event).
PAGE_BYTES = 512 << 10


async def read_page(
    events: EventLog,
    task_id: int,
    after: int,
    *,
    upto: int | None = None,
    experiment_pk: int | None = None,
    limit: int = PAGE,
    max_bytes: int = PAGE_BYTES,
) -> tuple[list[StoredEvent], bool]:
    """The events of a task after ``after`` (up to ``upto``), oldest first: at most
    ``limit`` and ``max_bytes`` of them (but at least one), and whether more may follow.

    The sizes are read first, without the payloads, so a page of large events
    never costs more than ``max_bytes`` to hold.
    """
    sizes = await events.event_sizes(task_id, after=after, limit=limit, experiment_pk=experiment_pk)
    more = len(sizes) == limit
    if upto is not None and sizes and sizes[-1][0] > upto:
        sizes = [s for s in sizes if s[0] <= upto]
        more = False
    if not sizes:
        return [], False
    total = n = 0
    for _, size in sizes:
        if n and total + size > max_bytes:
            more = True
            break
        total += size
        n += 1
    cut = sizes[n - 1][0]
    page = await events.read_events(task_id, after=after, limit=n, experiment_pk=experiment_pk)
    return [e for e in page if e.id <= cut], more


@dataclass
class Replay:
    """What a (re)connecting client is owed: events after ``after`` up to ``newest``."""

    newest: int
    count: int = 0
    resync_reason: str | None = None
    #: The client's ``last_event_id``: the replay starts after it.
    after: int = 0
    _task_id: int = 0
    _experiment_pk: int | None = None
    _log: EventLog | None = field(default=None, repr=False)

    async def events(self) -> AsyncGenerator[StoredEvent, None]:
        """The replayed events, oldest first, read a page at a time (see
        :func:`read_page`). Each event is let go of as it is handed out, so a
        consumer that sends one before taking the next holds at most one page."""
        if self.count == 0 or self._log is None:
            return
        after = self.after
        while after < self.newest:
            page, more = await read_page(
                self._log,
                self._task_id,
                after,
                upto=self.newest,
                experiment_pk=self._experiment_pk,
            )
            if not page:
                return
            after = page[-1].id
            page.reverse()
            while page:
                yield page.pop()
            if not more:
                return


async def plan_replay(
    events: EventLog, sub: Subscriber, last_event_id: int | None, cap: int
) -> Replay:
    """What ``sub`` (already subscribed) is owed after ``last_event_id``, at most
    ``cap`` events; sets ``sub.last_id`` to where live delivery takes over, so
    nothing is sent twice or skipped. ``LookupError`` for an unknown task."""
    assert sub.task_id is not None
    newest = await events.last_event_id(sub.task_id)
    if newest is None:
        raise LookupError(f"task {sub.task_id} not found")
    sub.last_id = newest
    if last_event_id is None or last_event_id == newest:
        return Replay(newest)
    if last_event_id > newest:
        return Replay(
            newest,
            resync_reason=f"last_event_id {last_event_id} is ahead of the newest event "
            f"{newest} of task {sub.task_id} (was the database reset?); refetch",
        )
    if sub.experiment_pk is None:
        count = newest - last_event_id
    else:
        # Count the experiment's events without loading them (ids and sizes only).
        count = 0
        after = last_event_id
        while after < newest and count <= cap:
            sizes = await events.event_sizes(
                sub.task_id, after=after, limit=PAGE, experiment_pk=sub.experiment_pk
            )
            count += sum(1 for i, _ in sizes if i <= newest)
            if len(sizes) < PAGE:
                break
            after = sizes[-1][0]
    if count > cap:
        return Replay(
            newest,
            resync_reason=f"{count} events missed, more than the {cap} a reconnect replays; "
            "refetch and continue live",
        )
    return Replay(
        newest,
        count=count,
        after=last_event_id,
        _task_id=sub.task_id,
        _experiment_pk=sub.experiment_pk,
        _log=events,
    )
