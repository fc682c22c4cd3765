"""``DURABLE_JOBS`` is checked by Django's system checks: every bad value, with an id and a hint."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_durable_jobs.conf import check_settings, jobs_settings

MANAGE = Path(__file__).resolve().parents[2] / "testproject" / "manage.py"

BAD = [
    (
        {"LEASE_SECONDS": math.nan},
        "durable_jobs.E004",
        "DURABLE_JOBS['LEASE_SECONDS'] must be a finite number",
    ),
    ({"LEASE_SECONDS": math.inf}, "durable_jobs.E004", "must be a finite number, not inf"),
    ({"BACKOFF_BASE": math.nan}, "durable_jobs.E004", "DURABLE_JOBS['BACKOFF_BASE'] must be a finite number"),
    (
        {"BACKOFF_BASE": -math.inf},
        "durable_jobs.E004",
        "DURABLE_JOBS['BACKOFF_BASE'] must be a finite number",
    ),
    ({"CONCURRENCY": 0}, "durable_jobs.E005", "DURABLE_JOBS['CONCURRENCY'] is 0, outside 1..1000"),
    ({"CONCURRENCY": 100_000}, "durable_jobs.E005", "DURABLE_JOBS['CONCURRENCY'] is 100000, outside 1..1000"),
    ({"POLL_SECONDS": 0}, "durable_jobs.E005", "DURABLE_JOBS['POLL_SECONDS'] is 0, outside 0.01.."),
    ({"CONTROL_POLL_SECONDS": 0}, "durable_jobs.E005", "DURABLE_JOBS['CONTROL_POLL_SECONDS'] is 0, outside"),
    ({"CONTROL_POLL_SECONDS": 0.001}, "durable_jobs.E005", "is 0.001, outside 0.01.."),
    ({"DEFAULT_QUEUE": "a:b"}, "durable_jobs.E008", "DURABLE_JOBS['DEFAULT_QUEUE']: 'a:b' may not contain"),
    ({"DEFAULT_QUEUE": 5}, "durable_jobs.E003", "DURABLE_JOBS['DEFAULT_QUEUE'] must be a string, not 5"),
    (
        {"DEFAULT_RETRIES": 2.0},
        "durable_jobs.E003",
        "DURABLE_JOBS['DEFAULT_RETRIES'] must be an integer, not 2.0",
    ),
    ({"DEFAULT_RETRIES": True}, "durable_jobs.E003", "must be an integer, not True"),
    ({"DATABASE": "nope"}, "durable_jobs.E009", "DURABLE_JOBS['DATABASE'] is 'nope', which is not an alias"),
    (
        {"WORKER_DEAD_SECONDS": 4, "HEARTBEAT_SECONDS": 5},
        "durable_jobs.E007",
        "DURABLE_JOBS['WORKER_DEAD_SECONDS'] (4) must be longer than two heartbeats",
    ),
    (
        {"LEASE_SECONDS": 9, "HEARTBEAT_SECONDS": 5},
        "durable_jobs.E006",
        "DURABLE_JOBS['LEASE_SECONDS'] (9) must be longer than two heartbeats",
    ),
    ({"MAX_ARGS_BYTES": 0}, "durable_jobs.E005", "DURABLE_JOBS['MAX_ARGS_BYTES'] is 0, outside"),
    ({"MAX_NESTING": 10_000}, "durable_jobs.E005", "DURABLE_JOBS['MAX_NESTING'] is 10000, outside 1..200"),
    ({"LEASE_SECOND": 5}, "durable_jobs.E002", "Unknown DURABLE_JOBS key(s): 'LEASE_SECOND'."),
    (
        {"LISTEN_DATABASE": "direct"},
        "durable_jobs.E011",
        "DURABLE_JOBS['LISTEN_DATABASE'] is 'direct', which is not an alias in DATABASES",
    ),
    ({"LISTEN_DATABASE": 5}, "durable_jobs.E003", "DURABLE_JOBS['LISTEN_DATABASE'] must be a string or None"),
    ({"RETENTION": 7}, "durable_jobs.E013", "DURABLE_JOBS['RETENTION'] must be a dict of status -> period"),
    (
        {"RETENTION": {"done": 60}},
        "durable_jobs.E013",
        "DURABLE_JOBS['RETENTION'] names unknown status(es) 'done'",
    ),
    (
        {"RETENTION": {"pending": 60}},
        "durable_jobs.E013",
        "unknown status(es) 'pending': only 'completed', 'failed', 'cancelled' are pruned",
    ),
    (
        {"RETENTION": {"completed": "7d"}},
        "durable_jobs.E013",
        "DURABLE_JOBS['RETENTION']['completed'] must be a timedelta, a number of seconds or None, not '7d'",
    ),
    ({"RETENTION": {"failed": True}}, "durable_jobs.E013", "a number of seconds or None, not True"),
    (
        {"RETENTION": {"failed": -1}},
        "durable_jobs.E013",
        "DURABLE_JOBS['RETENTION']['failed'] is negative (-1)",
    ),
    (
        {"RETENTION": {"cancelled": timedelta(seconds=-1)}},
        "durable_jobs.E013",
        "DURABLE_JOBS['RETENTION']['cancelled'] is negative",
    ),
    ({"RETENTION": {"completed": math.nan}}, "durable_jobs.E013", "must be a finite number of seconds"),
    ({"RETENTION": {"completed": math.inf}}, "durable_jobs.E013", "must be a finite number of seconds"),
    ({"RETENTION": {"completed": timedelta(days=10**6)}}, "durable_jobs.E013", "longer than 1,000 years"),
    (
        {"QUEUES": {"emails": {"retention": {"completed": -5}}}},
        "durable_jobs.E013",
        "DURABLE_JOBS['QUEUES']['emails']['retention']['completed'] is negative (-5)",
    ),
    (
        {"QUEUES": {"emails": {"retention": ["completed"]}}},
        "durable_jobs.E013",
        "DURABLE_JOBS['QUEUES']['emails']['retention'] must be a dict",
    ),
    (
        {"QUEUES": {"emails": {"keep": {"completed": 5}}}},
        "durable_jobs.E012",
        "may only set 'rate_limit' and 'retention'",
    ),
    ({"PRUNE_SECONDS": 0}, "durable_jobs.E005", "DURABLE_JOBS['PRUNE_SECONDS'] is 0, outside 0.1.."),
]


@pytest.mark.parametrize("value, check_id, message", BAD, ids=[str(case[0]) for case in BAD])
def test_every_bad_setting_is_reported_by_the_system_checks(settings, value, check_id, message) -> None:
    settings.DURABLE_JOBS = value
    errors = check_settings()
    assert [(e.id, message in e.msg or e.msg) for e in errors] == [(check_id, True)]
    with pytest.raises(ImproperlyConfigured, match=check_id):  # and its first use refuses it
        _ = jobs_settings.CONCURRENCY


@pytest.mark.django_db  # Django 6's check command also runs the database checks
def test_the_check_reports_every_problem_at_once(settings) -> None:
    settings.DURABLE_JOBS = {"CONCURRENCY": 0, "POLL_SECONDS": math.nan, "DATABASE": 3}
    assert sorted(e.id for e in check_settings()) == [
        "durable_jobs.E003",
        "durable_jobs.E004",
        "durable_jobs.E005",
    ]
    with pytest.raises(SystemCheckError, match="CONCURRENCY") as caught:
        call_command("check")
    assert "POLL_SECONDS" in str(caught.value) and "HINT" in str(caught.value)


def test_a_dict_is_required(settings) -> None:
    settings.DURABLE_JOBS = [("CONCURRENCY", 2)]
    assert [e.id for e in check_settings()] == ["durable_jobs.E001"]


def test_good_settings_pass(settings) -> None:
    settings.DURABLE_JOBS = {
        "CONCURRENCY": 1000,
        "POLL_SECONDS": 0.01,
        "LEASE_SECONDS": 2.1,
        "HEARTBEAT_SECONDS": 1,
    }
    assert check_settings() == []


@pytest.mark.parametrize(
    "retention",
    [
        {"completed": timedelta(days=1), "failed": None, "cancelled": 0},
        {"failed": 3600},  # the others keep their defaults
        {"completed": 0.5},
        {},
    ],
)
def test_good_retention_passes(settings, retention) -> None:
    settings.DURABLE_JOBS = {
        "RETENTION": retention,
        "QUEUES": {"emails": {"rate_limit": "5/s", "retention": retention}, "audit": {"retention": {}}},
        "PRUNE_SECONDS": 0.1,
    }
    assert check_settings() == []
    assert jobs_settings.RETENTION == retention


def test_retention_defaults_and_overrides(settings) -> None:
    from django_durable_jobs.state.retention import retention

    assert retention() == {
        "completed": timedelta(days=7),
        "failed": timedelta(days=30),
        "cancelled": timedelta(days=30),
    }
    settings.DURABLE_JOBS = {
        "RETENTION": {"failed": None, "cancelled": 60},
        "QUEUES": {"emails": {"retention": {"completed": 3600.5, "failed": timedelta(days=2)}}},
    }
    assert retention() == {"completed": timedelta(days=7), "failed": None, "cancelled": timedelta(minutes=1)}
    assert retention("emails") == {
        "completed": timedelta(seconds=3600.5),
        "failed": timedelta(days=2),
        "cancelled": timedelta(minutes=1),
    }
    assert retention("other") == retention()


def test_manage_py_check_reports_a_bad_retention() -> None:
    check = run_manage("check", extra='{"RETENTION": {"completed": -1, "done": 5}}')
    assert check.returncode == 1, check.stderr
    assert "durable_jobs.E013" in check.stderr and "unknown status(es) 'done'" in check.stderr
    assert "Traceback" not in check.stderr
    assert run_manage("check", extra='{"RETENTION": {"completed": 60, "failed": null}}').returncode == 0


@pytest.mark.parametrize("listen", ["", None, "default"])
def test_listen_database_may_be_default_none_or_an_alias(settings, listen) -> None:
    settings.DURABLE_JOBS = {"LISTEN_DATABASE": listen}
    assert check_settings() == []
    assert jobs_settings.LISTEN_DATABASE == listen


def run_manage(*argv: str, extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJJ_DB": "sqlite", "DJJ_EXTRA_SETTINGS": extra}
    return subprocess.run(
        [sys.executable, str(MANAGE), *argv], env=env, capture_output=True, text=True, timeout=60
    )


def test_manage_py_check_and_runjobs_report_bad_settings() -> None:
    """The real commands, as a user runs them: nothing starts, every problem is named."""
    extra = '{"CONCURRENCY": 0, "POLL_SECONDS": 0, "DEFAULT_QUEUE": "a:b"}'
    check = run_manage("check", extra=extra)
    assert check.returncode == 1, check.stderr
    for expected in ("durable_jobs.E005", "CONCURRENCY", "POLL_SECONDS", "durable_jobs.E008"):
        assert expected in check.stderr, check.stderr
    assert "Traceback" not in check.stderr
    runjobs = run_manage("runjobs", "--burst", extra=extra)
    assert runjobs.returncode == 1, runjobs.stderr
    assert "durable_jobs.E005" in runjobs.stderr and "Traceback" not in runjobs.stderr
