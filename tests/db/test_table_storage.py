"""The PostgreSQL storage parameters the migrations set on the queue tables (issues 12, 14)."""

from __future__ import annotations

import pytest
from django.db import connection

from django_durable_jobs.models import Job, JobStat

pytestmark = [pytest.mark.django_db, pytest.mark.postgres_only]


def options(model) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [model._meta.db_table])
        return dict(option.split("=") for option in cursor.fetchone()[0] or [])


def test_the_job_table_leaves_room_for_hot_updates_and_vacuums_early() -> None:
    job = options(Job)
    assert job["fillfactor"] == "85"
    assert float(job["autovacuum_vacuum_scale_factor"]) == 0.02


def test_the_statistics_table_is_updated_in_place() -> None:
    assert options(JobStat)["fillfactor"] == "70"
