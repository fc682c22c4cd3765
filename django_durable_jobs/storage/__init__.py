"""Storage engines: all the SQL of the job system, one engine per database dialect.

Internal package. :func:`engine` returns the engine of the job database
(``DURABLE_JOBS["DATABASE"]``) or of a given alias; only the state machine
calls it.
"""

from __future__ import annotations

from django.db import connections

from ..conf import jobs_settings
from .base import Engine
from .claims import ClaimedJob
from .postgres import PostgresEngine
from .sqlite import SQLiteEngine

__all__ = ["ClaimedJob", "Engine", "alias", "engine"]

_ENGINES: dict[str, type[Engine]] = {"postgresql": PostgresEngine, "sqlite": SQLiteEngine}
_cache: dict[str, Engine] = {}


def alias() -> str:
    """The database alias the job tables live in."""
    return jobs_settings.DATABASE


def engine(using: str | None = None) -> Engine:
    """The storage engine of database ``using`` (default: the job database)."""
    using = using or alias()
    found = _cache.get(using)
    if found is None:
        vendor = connections[using].vendor
        if vendor not in _ENGINES:
            raise NotImplementedError(
                f"django-durable-jobs supports PostgreSQL and SQLite, not {vendor!r} (database {using!r})"
            )
        found = _cache[using] = _ENGINES[vendor](using)
    return found
