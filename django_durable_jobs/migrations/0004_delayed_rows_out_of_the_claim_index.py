from django.db import migrations, models

#: A queue table turns over its live rows many times a day: vacuum it after
#: 1,000 + 2 % dead rows (the default waits for 20 %, which on a table of a
#: million finished jobs is 200,000 dead index entries for each claim to walk).
QUEUE_TABLE_STORAGE = (
    "autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000, "
    "autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.05"
)


def set_storage(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        table = apps.get_model("durable_jobs", "Job")._meta.db_table
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} SET ({QUEUE_TABLE_STORAGE})")


def reset_storage(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        table = apps.get_model("durable_jobs", "Job")._meta.db_table
        names = ", ".join(part.split("=")[0].strip() for part in QUEUE_TABLE_STORAGE.split(","))
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} RESET ({names})")


class Migration(migrations.Migration):
    dependencies = [
        ("durable_jobs", "0003_worker_abandoned_threads"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="job", name="durable_jobs_runnable"),
        migrations.RemoveIndex(model_name="job", name="durable_jobs_runnable_any"),
        migrations.AddField(
            model_name="job",
            name="delayed",
            field=models.BooleanField(
                default=False,
                editable=False,
                help_text="Internal: run_after was in the future when the job became pending. Such rows "
                "stay out of the claim's index until a claim stages them, once due.",
            ),
        ),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(
                condition=models.Q(("delayed", False), ("status", "pending")),
                fields=["queue", "-priority", "id"],
                name="durable_jobs_ready",
            ),
        ),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(
                condition=models.Q(("delayed", False), ("status", "pending")),
                fields=["-priority", "id"],
                name="durable_jobs_ready_any",
            ),
        ),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(
                condition=models.Q(("delayed", True), ("status", "pending")),
                fields=["run_after"],
                name="durable_jobs_delayed",
            ),
        ),
        migrations.RunPython(set_storage, reset_storage, elidable=True),
    ]
