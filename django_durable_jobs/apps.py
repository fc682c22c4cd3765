from __future__ import annotations

from django.apps import AppConfig
from django.db import connections
from django.utils.module_loading import autodiscover_modules

#: Set on SQLite connections unless the project chose otherwise: WAL lets
#: readers run beside the one writer, the busy timeout makes writers queue
#: instead of failing with "database is locked".
SQLITE_PRAGMAS = "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=30000"


class DurableJobsConfig(AppConfig):
    name = "django_durable_jobs"
    label = "durable_jobs"  # fixed forever: table names derive from it
    verbose_name = "Durable jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        configure_sqlite()
        autodiscover_modules("jobs")
        from .scheduling import firing

        firing.register_decorator_schedules()


def configure_sqlite() -> None:
    """Make SQLite safe for a worker with several threads.

    ``BEGIN IMMEDIATE`` takes the write lock at the start of a transaction,
    so a read-then-write transaction waits on the busy timeout instead of
    failing on lock upgrade.
    """
    for alias in connections:
        settings_dict = connections.settings[alias]
        if settings_dict.get("ENGINE") != "django.db.backends.sqlite3":
            continue
        options = settings_dict.setdefault("OPTIONS", {})
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault("timeout", 30)
        options.setdefault("init_command", SQLITE_PRAGMAS)
