import os

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import pool_jobs  # noqa: F401 - the process pool tests' jobs

        if os.environ.get("DJJ_SIGNAL_LOG") == "1":
            from . import signal_log

            signal_log.connect()
        if os.environ.get("DJJ_SLOW_WRITER") == "1":
            # Signals go out from the worker's writer thread: a slow receiver
            # holds finished jobs in its queue for longer than their lease.
            import time

            from django_durable_jobs.signals import job_completed

            job_completed.connect(lambda **kwargs: time.sleep(1.0), weak=False)
