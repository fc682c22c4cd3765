"""Room in each page for in-place (HOT) updates, on PostgreSQL.

A job row is updated several times in its life. Updates that change an
indexed column (its status, its lease's expiry) need new index entries
anyway, but the others (progress, the per-minute statistics' counters) can be
HOT: the new version goes on the same page, with no index entry, if the page
has room. ``fillfactor`` keeps that room free at insert time. The statistics
rows are updated by every outcome batch, so they get more room, and
autovacuum thresholds suited to a small table updated all the time.
"""

from django.db import migrations

STORAGE = {
    "Job": "fillfactor = 85",
    "JobStat": "fillfactor = 70, autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_threshold = 200",
    "QueueSample": "fillfactor = 90",
}


def _alter(apps, schema_editor, reset: bool) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for model, options in STORAGE.items():
        table = schema_editor.quote_name(apps.get_model("durable_jobs", model)._meta.db_table)
        if reset:
            names = ", ".join(part.split("=")[0].strip() for part in options.split(","))
            schema_editor.execute(f"ALTER TABLE {table} RESET ({names})")
        else:
            schema_editor.execute(f"ALTER TABLE {table} SET ({options})")


def set_storage(apps, schema_editor):
    _alter(apps, schema_editor, reset=False)


def reset_storage(apps, schema_editor):
    _alter(apps, schema_editor, reset=True)


class Migration(migrations.Migration):
    dependencies = [
        ("durable_jobs", "0013_held_rows_of_paused_queues"),
    ]

    operations = [
        migrations.RunPython(set_storage, reset_storage, elidable=True),
    ]
