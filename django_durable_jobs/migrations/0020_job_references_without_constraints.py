"""Checkpoints and fan-outs reference their job without a database constraint (see ``Checkpoint.job``)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("durable_jobs", "0019_enqueue_function"),
    ]

    operations = [
        migrations.AlterField(
            model_name="checkpoint",
            name="job",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="checkpoints",
                to="durable_jobs.job",
            ),
        ),
        migrations.AlterField(
            model_name="fanout",
            name="parent",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="fanouts",
                to="durable_jobs.job",
            ),
        ),
    ]
