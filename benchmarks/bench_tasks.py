"""The competitor's job: a no-op task of Django's Tasks framework (django-tasks-db)."""

from django_tasks import task


@task()
def noop() -> None:
    """Does nothing, like ``demo.noop``."""
