# Two indexes on the training app's job table that keep the dashboard's cost flat in the number of
# jobs. Created here because this app is their reader; the training model does not declare them,
# so the training app's migrations never touch them. Both are partial, plain SQL valid on
# PostgreSQL and SQLite.

from django.db import migrations

# Jobs by phase: an index-only scan of (project, phase) pairs. B-tree deduplication keeps it
# ~0.8 MB at 100,000 jobs (a wider index holding created_at too is 11 MB and twice as slow to count).
PHASE_COUNTS = """
CREATE INDEX IF NOT EXISTS dashboard_job_phase_counts ON training_trainingjob (project_id, phase)
WHERE deleted_at IS NULL
"""

# The queue: every pool's waiting jobs in the scheduler's order (created_at, id), with the project,
# read from the index alone (positions count other projects' jobs in the same pool).
WAITING = """
CREATE INDEX IF NOT EXISTS dashboard_job_waiting ON training_trainingjob (pool_id, created_at, id, project_id)
WHERE phase IN ('Creating', 'Pending') AND nodes_assigned_at IS NULL AND deleted_at IS NULL
"""


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0001_initial"),
        ("training", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(PHASE_COUNTS, reverse_sql="DROP INDEX IF EXISTS dashboard_job_phase_counts"),
        migrations.RunSQL(WAITING, reverse_sql="DROP INDEX IF EXISTS dashboard_job_waiting"),
    ]
