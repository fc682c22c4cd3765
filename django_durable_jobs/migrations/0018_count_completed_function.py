"""The PostgreSQL function that counts a batch of completions in the per-minute statistics.

The worker's writer calls it from the statement that completes a batch (see
``PostgresStats.count_completed_function``).
"""

from django.db import migrations

from ._functions import create_function, drop_function


def create(apps, schema_editor):
    create_function(schema_editor, "count_completed_function")


def drop(apps, schema_editor):
    drop_function(schema_editor, "django_durable_jobs.storage.postgres_stats:COUNT_COMPLETED_SIGNATURE")


class Migration(migrations.Migration):
    dependencies = [
        ("durable_jobs", "0017_one_name_index"),
    ]

    operations = [
        migrations.RunPython(create, drop),
    ]
