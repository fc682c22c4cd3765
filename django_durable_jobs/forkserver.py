"""Imported once by the process pool's fork server: Django is set up there, before any child forks.

Every child of ``runjobs --pool process`` is forked from that server (see
``django_durable_jobs.worker.processes``), so each starts with the settings
loaded, the apps ready and every ``jobs`` module imported, in a few
milliseconds. The server is a fresh interpreter started by the worker, with
the worker's environment: ``DJANGO_SETTINGS_MODULE``, and the worker's
``sys.path`` in :data:`SYS_PATH` (the server gets Python's default path, not
the worker's, and would not find a project's settings next to its
``manage.py``). It leaves the worker's process group, as the children do.
"""

import json
import os
import sys

import django
from django.apps import apps

#: The environment variable that hands the worker's ``sys.path`` to the fork server
#: (``processes.SYS_PATH``: this module is not imported by the worker).
SYS_PATH = "DJANGO_DURABLE_JOBS_SYS_PATH"

# Out of the worker's process group: a signal to the group (Ctrl-C, ``timeout``,
# ``kill -- -PGID``) is the worker's to handle; a dead server would orphan the children.
os.setpgid(0, 0)
if SYS_PATH in os.environ:
    sys.path[:] = json.loads(os.environ[SYS_PATH])
if not apps.ready:
    django.setup()
