"""examples/api_flow.py — the seed's whole training flow — against a live console with a real node."""

import shutil
import subprocess
import sys

import pytest

from console.audit.models import AuditEntry
from console.nodepools.models import Node
from console.training.models import TrainingJob
from tests.conftest import PASSWORD, ROOT
from tests.training.conftest import EXAMPLES

pytestmark = pytest.mark.integration


@pytest.fixture
def seed_prerequisites(bucket_root):
    """前提条件: the seed's boot file, data, and output/log folders in the bucket."""
    base = bucket_root / "pytorch" / "fast_example"
    shutil.copytree(EXAMPLES / "pytorch_gloo", base / "code" / "cpu")
    (base / "data").mkdir(parents=True)
    (base / "data" / "train.csv").write_text("x,y\n1,2\n2,5\n")
    return base


def test_the_seeds_flow_runs_end_to_end(
    live_server,
    celery_worker_process,
    node_env,
    storage_project,
    member,
    seed_prerequisites,
    default_pool,
    flavors,
    bucket_name,
):
    celery_worker_process(queues="platform", name="node-a", beat=True, extra_env=node_env("node-a"))
    assert Node.objects.get(name="node-a").engines.filter(engine_name="PyTorch").exists()

    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "api_flow.py"),
            "--endpoint",
            live_server.url,
            "--user",
            member.username,
            "--password",
            PASSWORD,
            "--domain",
            member.profile.organization.name,
            "--project",
            storage_project.name,
            "--bucket",
            bucket_name,
            "--flavor",
            "test.cpu.1u",
            "--timeout",
            "180",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "job ended Completed" in output
    assert "cpuUsage:" in output and "job deleted" in output
    assert "log (" in output
    # The job's checkpoint is in the bucket; the job itself is gone, its deletion audited.
    assert any((seed_prerequisites / "outputs").iterdir()), output
    assert not TrainingJob.objects.filter(deleted_at__isnull=True).exists()
    assert AuditEntry.objects.filter(action="training_job.delete", actor=member).exists()
