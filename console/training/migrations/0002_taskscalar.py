# Issue 11: scalars the training script logs (TensorBoard event files, MA_METRIC stdout lines).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="TaskScalar",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200)),
                ("step", models.BigIntegerField()),
                ("wall_time", models.DateTimeField()),
                ("value", models.FloatField()),
                (
                    "task",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="scalars", to="training.trainingtask"
                    ),
                ),
            ],
            options={
                "ordering": ["task_id", "name", "step", "id"],
                "indexes": [models.Index(fields=["task", "name", "step"], name="taskscalar_task_name_step")],
            },
        ),
        migrations.CreateModel(
            name="TaskScalarSeries",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200)),
                ("points", models.PositiveIntegerField(default=0)),
                ("last_step", models.BigIntegerField()),
                ("last_value", models.FloatField()),
                ("last_wall_time", models.DateTimeField()),
                ("min_value", models.FloatField()),
                ("max_value", models.FloatField()),
                (
                    "task",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="scalar_series",
                        to="training.trainingtask",
                    ),
                ),
            ],
            options={
                "ordering": ["task_id", "name"],
                "constraints": [models.UniqueConstraint(fields=("task", "name"), name="one_scalar_series_per_name")],
            },
        ),
    ]
