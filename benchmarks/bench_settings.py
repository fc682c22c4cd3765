"""Settings of the benchmark: the demo project's, plus django-tasks-db when installed.

The competitor figures need Django's Tasks framework with the ORM backend
(``pip install django-tasks-db``); without it the benchmark runs everything
else and says the comparison was skipped.
"""

from importlib.util import find_spec

from testproject.settings import *  # noqa: F403
from testproject.settings import INSTALLED_APPS

HAS_TASKS_DB = find_spec("django_tasks_db") is not None and find_spec("django_tasks") is not None

if HAS_TASKS_DB:
    INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks", "django_tasks_db"]
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
