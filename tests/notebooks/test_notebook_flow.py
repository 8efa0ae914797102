"""examples/notebook_flow.py — the seed's notebook flow — against a live console with a real node."""

import subprocess
import sys

import pytest

from console.audit.models import AuditEntry
from console.notebooks.models import Notebook
from console.notebooks.states import State
from tests.conftest import PASSWORD, ROOT
from tests.notebooks.conftest import TEST_FLAVOR

pytestmark = pytest.mark.integration


def test_the_seeds_notebook_flow_runs_end_to_end(live_server, notebook_node, storage_project, member):
    notebook_node()
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "notebook_flow.py"),
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
            "--flavor",
            TEST_FLAVOR["flavor_id"],
            "--timeout",
            "90",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "notebook RUNNING again" in output and "notebook deleted" in output
    assert Notebook.objects.get().state == State.DELETED
    assert AuditEntry.objects.filter(action="notebook.delete", actor=member).exists()
