"""Task and experiment ids are never reused: AUTOINCREMENT on SQLite.

Without AUTOINCREMENT, SQLite gives a new row the largest id in the table plus
one, so after the newest task is deleted the next task gets its id, and old
URLs or ``autotuner watch N`` silently show another task. AUTOINCREMENT keeps
the largest id ever used in ``sqlite_sequence``. SQLite cannot add it to an
existing table: both tables are rebuilt with their rows (``Store.init`` runs
migrations with foreign keys off, so the rebuild deletes no experiment or
event). PostgreSQL's serial sequences never hand out an id twice: nothing to do.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in ("tasks", "experiments"):
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in ("experiments", "tasks"):
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": False}
        ):
            pass
