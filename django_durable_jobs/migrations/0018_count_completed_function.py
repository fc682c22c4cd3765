"""The PostgreSQL function that counts a batch of completions in the per-minute statistics.

The worker's writer calls it from the statement that completes a batch (see
``PostgresEngine.count_completed_function``). Its SQL comes from the engine,
so that it and the Python counting share one definition of the rollup
columns and buckets; a later change to them re-creates it in a new migration.
"""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from django_durable_jobs.storage import engine

        schema_editor.execute(engine(schema_editor.connection.alias).count_completed_function())


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from django_durable_jobs.storage.postgres_stats import COUNT_COMPLETED_SIGNATURE

        schema_editor.execute(f"DROP FUNCTION IF EXISTS {COUNT_COMPLETED_SIGNATURE}")


class Migration(migrations.Migration):
    dependencies = [
        ("durable_jobs", "0017_one_name_index"),
    ]

    operations = [
        migrations.RunPython(create, drop),
    ]
