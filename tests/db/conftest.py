"""Fixtures of the database layer."""

from __future__ import annotations

import pytest


@pytest.fixture
def is_postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"
