"""The store contract (``autotuner.testing.stores``), over SQLite and a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from autotuner.testing.stores import StoreContract


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


class TestStoreContract(StoreContract):
    """Over every database (sqlite, postgresql)."""
