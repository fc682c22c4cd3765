"""The PostgreSQL function that inserts one job (see ``PostgresInserts.enqueue_function``).

Its SQL comes from the engine, which also sends the call, so the two share
one list of columns; a later change to them re-creates it in a new migration.
"""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from django_durable_jobs.storage import engine

        schema_editor.execute(engine(schema_editor.connection.alias).enqueue_function())


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from django_durable_jobs.storage.postgres_inserts import ENQUEUE_SIGNATURE

        schema_editor.execute(f"DROP FUNCTION IF EXISTS {ENQUEUE_SIGNATURE}")


class Migration(migrations.Migration):
    dependencies = [
        ("durable_jobs", "0018_count_completed_function"),
    ]

    operations = [
        migrations.RunPython(create, drop),
    ]
