"""SQLite set-up touches the job database only, and only what the project left unset."""

from __future__ import annotations

import pytest
from django.db import connections

from django_durable_jobs.storage import sqlite


@pytest.fixture
def databases(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict]:
    settings = {
        "jobs": {"ENGINE": "django.db.backends.sqlite3", "NAME": "jobs.sqlite3"},
        "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": "other.sqlite3"},
        "tuned": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": "tuned.sqlite3",
            "OPTIONS": {"timeout": 5, "transaction_mode": "EXCLUSIVE"},
        },
        "pg": {"ENGINE": "django.db.backends.postgresql", "NAME": "x"},
    }
    monkeypatch.setattr(connections, "settings", settings)
    return settings


def test_only_the_job_database_is_configured(databases: dict[str, dict]) -> None:
    sqlite.configure("jobs")
    assert databases["jobs"]["OPTIONS"] == {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": sqlite.PRAGMAS,
    }
    assert "OPTIONS" not in databases["other"]


def test_options_the_project_chose_are_kept(databases: dict[str, dict]) -> None:
    sqlite.configure("tuned")
    options = databases["tuned"]["OPTIONS"]
    assert options["timeout"] == 5 and options["transaction_mode"] == "EXCLUSIVE"
    assert options["init_command"] == sqlite.PRAGMAS


def test_a_postgresql_job_database_is_left_alone(databases: dict[str, dict]) -> None:
    sqlite.configure("pg")
    assert "OPTIONS" not in databases["pg"]
