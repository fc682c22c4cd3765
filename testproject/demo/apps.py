import os

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        if os.environ.get("DJJ_SIGNAL_LOG") == "1":
            from . import signal_log

            signal_log.connect()
