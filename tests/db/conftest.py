"""Fixtures of the database layer."""

from __future__ import annotations

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
