"""Fixtures of the database layer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest


@pytest.fixture
def is_postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def claims_look_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests claim many times within milliseconds and check each claim's effect at once:
    no throttling of staging or of looks for limited jobs (workers keep theirs)."""
    from django_durable_jobs.storage.claims import Claims

    monkeypatch.setattr(Claims, "STAGE_EVERY", 0.0)
    monkeypatch.setattr(Claims, "LIMITED_RECHECK", 0.0)


@pytest.fixture
def without_function() -> Callable[[str, str, str], AbstractContextManager[Any]]:
    """``without_function(signature, create, cached)``: the engine as before the migration that
    creates one of its PostgreSQL functions (``create`` names the engine method giving its SQL,
    ``cached`` the engine property that says whether it exists). Put back after the block."""
    from django.db import connection

    from django_durable_jobs.storage import engine

    @contextmanager
    def dropped(signature: str, create: str, cached: str) -> Iterator[Any]:
        store = engine(connection.alias)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP FUNCTION {signature}")
        store.__dict__.pop(cached, None)
        try:
            yield store
        finally:
            with connection.cursor() as cursor:
                cursor.execute(getattr(store, create)())
            store.__dict__.pop(cached, None)
        assert getattr(store, cached) is True

    return dropped


@pytest.fixture
def other_session(is_postgres: bool) -> Iterator[Any]:
    """A second session on the test database, outside Django (psycopg, autocommit): PostgreSQL only."""
    if not is_postgres:
        pytest.skip("a second session outside Django is a PostgreSQL test")
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold"):  # Django's, not connect()'s
        params.pop(key, None)
    with psycopg.connect(**params, autocommit=True) as session:
        yield session
