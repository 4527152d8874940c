"""Alembic environment: run with a connection handed in by ``Store.init``."""

from __future__ import annotations

from alembic import context

from autotuner.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only programmatic use is supported
    raise RuntimeError("autotuner migrations run through autotuner.store.Store.init()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
