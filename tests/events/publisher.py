"""A worker-like process that only publishes: ``python -m tests.events.publisher ...``.

Publishes ``--count`` events for one task through an EventBus on Redis and the
given database, as ``autotuner worker`` does, then prints the ids it got.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from autotuner.config import Settings
from autotuner.domain import EventType, create_event
from autotuner.events import create_event_bus
from autotuner.store import Store


async def main(args: argparse.Namespace) -> None:
    store = Store(Settings(database_url=args.database_url).resolved_database_url)
    bus = create_event_bus(
        Settings(database_url=args.database_url, redis_url=args.redis_url),
        store,
        namespace=args.namespace,
    )
    await bus.start()
    ids = []
    try:
        for n in range(args.count):
            recorded = await bus.publish(
                create_event(
                    EventType.BENCHMARK_PROGRESS,
                    args.task_id,
                    message=f"{args.tag} {n}",
                    data={"publisher": args.tag, "n": n},
                )
            )
            ids.append(recorded.id)
    finally:
        await bus.close()
        await store.close()
    print(json.dumps(ids))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--task-id", type=int, required=True)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--tag", default="p")
    asyncio.run(main(parser.parse_args()))
