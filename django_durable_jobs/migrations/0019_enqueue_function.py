"""The PostgreSQL function that inserts one job (see ``PostgresInserts.enqueue_function``)."""

from django.db import migrations

from ._functions import create_function, drop_function


def create(apps, schema_editor):
    create_function(schema_editor, "enqueue_function")


def drop(apps, schema_editor):
    drop_function(schema_editor, "django_durable_jobs.storage.postgres_inserts:ENQUEUE_SIGNATURE")


class Migration(migrations.Migration):
    dependencies = [
        ("durable_jobs", "0018_count_completed_function"),
    ]

    operations = [
        migrations.RunPython(create, drop),
    ]
