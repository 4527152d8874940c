"""The Redis transport: the distributed mode, shared by every API and worker process.

Publishing is one ``PUBLISH`` per topic (a pub/sub channel per task, plus one
for the task-level events of all tasks). Subscribing uses one pub/sub
connection per process, opened with the first subscription, so a worker that
only publishes holds no subscription at all. Pub/sub loses what is published
while a subscriber is disconnected: after every (re)connection the transport
re-subscribes, waits until Redis confirms, then asks the hub to catch up from
the store (``EventSink.resync``).

Subscriber counts: each process writes its per-task counts to a hash of its own
with a short TTL, refreshed by a heartbeat, and registers itself in a sorted
set scored by expiry; a process killed with SIGKILL drops out within ``ttl``
seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from autotuner.events._base import (
    ALL_TASKS,
    StoredEvent,
    Topic,
    Transport,
    decode_wire,
    encode_wire,
)

log = logging.getLogger("autotuner.events.redis")

#: How long ``subscribe`` waits for Redis to confirm before relying on resync.
SUBSCRIBE_TIMEOUT = 5.0
_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


class RedisTransport(Transport):
    """Pub/sub over Redis (see module doc)."""

    name = "redis"
    needs_sweep = True

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "autotuner",
        heartbeat: float = 2.0,
        ttl: float = 6.0,
    ) -> None:
        self._url = url
        self._ns = namespace
        self._heartbeat_every = heartbeat
        self._ttl = ttl
        self._process = uuid.uuid4().hex[:12]
        #: Shown by CLIENT LIST for every connection of this process.
        self.client_name = f"{namespace}:{self._process}"
        self._all_channel = f"{namespace}:events:tasks".encode()
        self._task_prefix = f"{namespace}:events:task:"
        self._procs_key = f"{namespace}:subs:procs"
        self._counts_key = f"{namespace}:subs:{self._process}"
        self._redis: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._wanted: set[bytes] = set()
        self._sent: set[bytes] = set()
        self._confirmed: set[bytes] = set()
        self._waiters: dict[bytes, list[asyncio.Future[None]]] = {}
        self._resync_after: set[bytes] | None = None
        # Resync after a reconnection, or after a first connection that took retries;
        # a first clean connection has missed nothing.
        self._may_have_missed = False
        self._local: dict[int, int] = {}
        self._round: asyncio.Future[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._closing = False
        self.reconnects = 0

    # ------------------------------------------------------------------ life

    async def start(self) -> None:
        # The pool connects lazily: a worker that never publishes opens nothing.
        self._redis = aioredis.Redis.from_url(self._url, client_name=self.client_name)
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        self._closing = True
        for task in (self._reader, self._heartbeat, self._flusher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if self._redis is not None and self._local:
            with contextlib.suppress(*_ERRORS):
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.delete(self._counts_key)
                    pipe.zrem(self._procs_key, self._process)
                    await asyncio.wait_for(pipe.execute(), 2)
        await self._drop_pubsub()
        if self._redis is not None:
            with contextlib.suppress(*_ERRORS):
                await self._redis.aclose()

    def _client(self) -> aioredis.Redis:
        if self._redis is None:
            raise RuntimeError("RedisTransport is not started")
        return self._redis

    # --------------------------------------------------------------- publish

    def _channel(self, topic: Topic) -> bytes:
        if topic is ALL_TASKS:
            return self._all_channel
        return f"{self._task_prefix}{topic}".encode()

    async def publish(self, event: StoredEvent) -> None:
        client = self._client()
        data = encode_wire(event)
        channel = self._channel(event.task_id)
        if event.type.startswith("task_"):
            async with client.pipeline(transaction=False) as pipe:
                pipe.publish(channel, data)
                pipe.publish(self._all_channel, data)
                await pipe.execute()
        else:
            await client.publish(channel, data)

    # ------------------------------------------------------------- subscribe

    async def subscribe(self, topic: Topic) -> None:
        channel = self._channel(topic)
        self._wanted.add(channel)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(channel, []).append(waiter)
        try:
            if self._reader is None:
                self._reader = asyncio.get_running_loop().create_task(self._run())
            else:
                await self._apply(channel)
            await asyncio.wait_for(asyncio.shield(waiter), SUBSCRIBE_TIMEOUT)
        except _ERRORS as exc:
            log.warning(
                "[EventBroadcaster] Redis subscription to %s not confirmed (%s); it is made "
                "on reconnect and the hub then catches up from the store",
                channel.decode(),
                exc or type(exc).__name__,
            )
        finally:
            waiters = self._waiters.get(channel)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiters[channel]

    async def unsubscribe(self, topic: Topic) -> None:
        channel = self._channel(topic)
        self._wanted.discard(channel)
        await self._apply(channel)

    async def _apply(self, channel: bytes) -> None:
        """Bring Redis in line with ``_wanted`` for ``channel``; calls are serialized so a
        quick unsubscribe + subscribe cannot reach Redis in the wrong order."""
        assert self._lock is not None
        async with self._lock:
            pubsub = self._pubsub
            if pubsub is None:
                return  # the reader's (re)connection subscribes every wanted channel
            wanted = channel in self._wanted
            try:
                if wanted and channel not in self._sent:
                    self._sent.add(channel)
                    await pubsub.subscribe(channel)
                elif wanted and channel in self._confirmed:
                    self._confirm(channel)
                elif not wanted and channel in self._sent:
                    self._sent.discard(channel)
                    self._confirmed.discard(channel)
                    await pubsub.unsubscribe(channel)
            except _ERRORS as exc:
                # The reader notices the broken connection and reconnects.
                log.debug("[EventBroadcaster] Redis (un)subscribe %s failed: %s", channel, exc)

    def _confirm(self, channel: bytes) -> None:
        for waiter in self._waiters.pop(channel, ()):
            if not waiter.done():
                waiter.set_result(None)

    async def _connect(self) -> None:
        assert self._lock is not None
        async with self._lock:
            await self._drop_pubsub()
            pubsub = self._client().pubsub()
            self._sent = set()
            self._confirmed = set()
            wanted = list(self._wanted)
            resync = self._may_have_missed
            if wanted:
                await pubsub.subscribe(*wanted)
                self._sent.update(wanted)
            else:
                await pubsub.connect()  # type: ignore[no-untyped-call]
            self._resync_after = set(wanted) if resync and wanted else None
            self._pubsub = pubsub
            self._may_have_missed = True
        if resync and not wanted:
            self._sink.resync()

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*_ERRORS):
                await pubsub.aclose()

    async def _run(self) -> None:
        delay = 0.1
        while not self._closing:
            try:
                await self._connect()
                delay = 0.1
                pubsub = self._pubsub
                while pubsub is self._pubsub:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None:
                        self._handle(message)
            except asyncio.CancelledError:
                raise
            except _ERRORS as exc:
                if self._closing:
                    return
                self._may_have_missed = True
                self.reconnects += 1
                log.warning(
                    "[EventBroadcaster] Redis subscription connection lost (%s); reconnecting "
                    "in %.1f s",
                    exc or type(exc).__name__,
                    delay,
                )
                await self._drop_pubsub()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel = message["channel"]
        if kind == "message":
            event = decode_wire(message["data"])
            if channel == self._all_channel:
                self._sink.deliver_all(event)
            else:
                self._sink.deliver_task(event)
        elif kind == "subscribe":
            self._confirmed.add(channel)
            self._confirm(channel)
            after = self._resync_after
            if after is not None:
                after.discard(channel)
                if not after:
                    self._resync_after = None
                    self._sink.resync()
        elif kind == "unsubscribe" and channel not in self._sent:
            self._confirmed.discard(channel)

    # ------------------------------------------------------ subscriber counts

    async def change_subscribers(self, task_id: int, delta: int, local: int) -> None:
        if local > 0:
            self._local[task_id] = local
        else:
            self._local.pop(task_id, None)
        loop = asyncio.get_running_loop()
        if self._round is None:
            self._round = loop.create_future()
        waiter = self._round
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_rounds())
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = loop.create_task(self._beat())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(waiter), 2.0)

    async def _flush_rounds(self) -> None:
        # One writer, whole state per round: counts can never be applied out of order.
        while self._round is not None:
            done, self._round = self._round, None
            await self._write_counts()
            if not done.done():
                done.set_result(None)

    async def _write_counts(self) -> None:
        now = time.time()
        try:
            async with self._client().pipeline(transaction=True) as pipe:
                pipe.delete(self._counts_key)
                if self._local:
                    pipe.hset(self._counts_key, mapping=dict(self._local))
                    pipe.expire(self._counts_key, max(1, int(self._ttl)))
                    pipe.zadd(self._procs_key, {self._process: now + self._ttl})
                else:
                    pipe.zrem(self._procs_key, self._process)
                pipe.zremrangebyscore(self._procs_key, "-inf", now)
                await pipe.execute()
        except _ERRORS as exc:
            log.debug("[EventBroadcaster] cannot write subscriber counts: %s", exc)

    async def _beat(self) -> None:
        while self._local and not self._closing:
            await asyncio.sleep(self._heartbeat_every)
            await self._write_counts()
        await self._write_counts()

    async def subscriber_count(self, task_id: int, local: int) -> int:
        client = self._client()
        now = time.time()
        try:
            processes = await client.zrangebyscore(self._procs_key, now, "+inf")
            others = [p.decode() for p in processes if p.decode() != self._process]
            if not others:
                return local
            async with client.pipeline(transaction=False) as pipe:
                for process in others:
                    pipe.hget(f"{self._ns}:subs:{process}", str(task_id))
                values = await pipe.execute()
        except _ERRORS as exc:
            log.warning("[EventBroadcaster] cannot read subscriber counts from Redis: %s", exc)
            return local
        return local + sum(int(v) for v in values if v is not None)
