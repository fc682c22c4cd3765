"""Transitional names for modules being moved onto :mod:`django_durable_jobs.storage`.

Internal module, to be removed once the worker's listener and the tests use
the storage engine directly.
"""

from __future__ import annotations

from typing import Any

from .storage import ClaimedJob, alias, engine
from .storage.postgres import CONTROL_CHANNEL, WORK_CHANNEL

__all__ = ["CONTROL_CHANNEL", "WORK_CHANNEL", "ClaimedJob", "alias", "insert_jobs", "is_postgres"]


def is_postgres(using: str | None = None) -> bool:
    return engine(using).vendor == "postgresql"


def insert_jobs(using: str, jobs: list[Any]) -> None:
    engine(using).insert_jobs(jobs)


def reclaim_expired(using: str) -> list[tuple[int, str, int | None]]:
    return engine(using).reclaim_expired()
