# Issue 15: lists that stay fast at 100,000 jobs.

from django.db import migrations, models

from console.core.trigram import TrigramIndexes


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_api_token"),
        ("training", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="algorithm",
            index=models.Index(fields=["project", "-created_at", "-id"], name="algorithm_project_list"),
        ),
        migrations.AddIndex(
            model_name="trainingjob",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=["project", "-created_at", "-id"],
                name="trainingjob_live_list",
            ),
        ),
        migrations.AddIndex(
            model_name="trainingjob",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=["project", "phase", "-created_at", "-id"],
                name="trainingjob_live_phase",
            ),
        ),
        # Substring search of jobs (name, description) on PostgreSQL; nothing on SQLite.
        TrigramIndexes("training_trainingjob", ["name", "description"]),
        TrigramIndexes("training_algorithm", ["name", "description"]),
    ]
