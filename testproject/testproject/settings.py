"""Settings of the demo project, also used by the test suite.

The database is chosen by environment variables:

- ``DJJ_DB=sqlite`` (default): a SQLite file, ``DJJ_DB_NAME`` or ``testproject/demo.sqlite3``.
- ``DJJ_DB=postgres``: PostgreSQL at ``DJJ_PG_HOST``/``DJJ_PG_PORT`` (127.0.0.1:5432),
  user ``DJJ_PG_USER`` (postgres), database ``DJJ_DB_NAME`` (durable_jobs_demo).
- ``DJJ_PG_DIRECT_PORT`` (PostgreSQL, optional): also a ``"direct"`` alias to the
  same database at ``DJJ_PG_DIRECT_HOST`` (127.0.0.1) and this port, for
  ``DURABLE_JOBS["LISTEN_DATABASE"]`` when ``DJJ_PG_PORT`` is PgBouncer's
  (tests/e2e/test_pgbouncer.py). Its connections are named ``djj-direct``.
"""

import json
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_durable_jobs",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "testproject.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DB = os.environ.get("DJJ_DB", "sqlite")
# Test databases are named after the test process (unless DJJ_TEST_DB_NAME says
# otherwise), so that test runs side by side never share one.
if DB == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("DJJ_DB_NAME", "durable_jobs_demo"),
            "USER": os.environ.get("DJJ_PG_USER", "postgres"),
            "HOST": os.environ.get("DJJ_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DJJ_PG_PORT", "5432"),
            "TEST": {"NAME": os.environ.get("DJJ_TEST_DB_NAME", f"test_durable_jobs_{os.getpid()}")},
        }
    }
    if os.environ.get("DJJ_PG_DIRECT_PORT"):
        DATABASES["direct"] = {
            **DATABASES["default"],
            "HOST": os.environ.get("DJJ_PG_DIRECT_HOST", "127.0.0.1"),
            "PORT": os.environ["DJJ_PG_DIRECT_PORT"],
            "OPTIONS": {"application_name": "djj-direct"},
            "TEST": {"MIRROR": "default"},  # the same database: never a second test database
        }
elif DB == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("DJJ_DB_NAME", str(BASE_DIR / "demo.sqlite3")),
            # A file, not memory: the tests run real worker processes against it.
            "TEST": {
                "NAME": os.environ.get("DJJ_TEST_DB_NAME", str(BASE_DIR / f"test-{os.getpid()}.sqlite3"))
            },
        }
    }
else:
    raise RuntimeError(f"DJJ_DB must be 'sqlite' or 'postgres', not {DB!r}")

DURABLE_JOBS = {}
if os.environ.get("DJJ_FAST_LEASES") == "1":
    # Tests that kill workers use short leases so reclaim happens in seconds.
    DURABLE_JOBS.update(LEASE_SECONDS=3.0, HEARTBEAT_SECONDS=0.5, RECLAIM_SECONDS=0.5, BACKOFF_BASE=0.1)
if os.environ.get("DJJ_EXTRA_SETTINGS"):
    DURABLE_JOBS.update(json.loads(os.environ["DJJ_EXTRA_SETTINGS"]))

if os.environ.get("DJJ_OTEL_SPANS"):  # tests: each process appends its spans to this file
    from demo.otel import export_spans_to

    export_spans_to(os.environ["DJJ_OTEL_SPANS"])

USE_TZ = True
TIME_ZONE = os.environ.get("DJJ_TIME_ZONE", "UTC")
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_durable_jobs": {
            "handlers": ["console"],
            "level": os.environ.get("DJJ_LOG_LEVEL", "WARNING"),
        }
    },
}
