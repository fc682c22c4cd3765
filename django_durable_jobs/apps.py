from __future__ import annotations

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class DurableJobsConfig(AppConfig):
    name = "django_durable_jobs"
    label = "durable_jobs"  # fixed forever: table names derive from it
    verbose_name = "Durable jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .conf import jobs_settings
        from .storage import sqlite

        sqlite.configure(jobs_settings.DATABASE)
        autodiscover_modules("jobs")
        from .scheduling import firing

        firing.register_decorator_schedules()
