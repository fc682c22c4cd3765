from __future__ import annotations

from importlib import import_module

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class DurableJobsConfig(AppConfig):
    name = "django_durable_jobs"
    label = "durable_jobs"  # fixed forever: table names derive from it
    verbose_name = "Durable jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from .conf import check_settings, jobs_settings, problems
        from .storage import sqlite

        checks.register(check_settings)
        from .metrics import check_metrics_library

        checks.register(check_metrics_library, checks.Tags.urls)
        if not problems():  # else the checks report them; the first use raises
            sqlite.configure(jobs_settings.DATABASE)
        autodiscover_modules("jobs")
        from .scheduling import firing

        firing.register_decorator_schedules()
        if tasks_framework_installed():
            import_module("django_durable_jobs.backend")  # registers the resolver of task job names


def tasks_framework_installed() -> bool:
    """Django's Tasks framework: ``django.tasks`` (Django 6) or the ``django_tasks`` backport (5.2)."""
    for name in ("django.tasks", "django_tasks"):
        try:
            import_module(name)
        except ImportError:
            continue
        return True
    return False
