"""Defining jobs and reading settings: what needs no database."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_durable_jobs import job
from django_durable_jobs.conf import jobs_settings
from django_durable_jobs.registry import get_definition


def test_default_name_is_module_and_function() -> None:
    @job
    def local_job() -> None: ...

    assert local_job.name == f"{__name__}.test_default_name_is_module_and_function.<locals>.local_job"
    assert get_definition(local_job.name) is local_job


def test_unknown_settings_key_is_an_error(settings) -> None:
    settings.DURABLE_JOBS = {"LEASE_SECOND": 5}
    with pytest.raises(ImproperlyConfigured, match="LEASE_SECOND"):
        _ = jobs_settings.LEASE_SECONDS
