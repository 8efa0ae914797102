"""The training scheduler's free-node rule counts every workload kind: a node a notebook holds is busy."""

from __future__ import annotations

import sys

from console.nodepools.models import Node
from console.notebooks.models import Image, NodeImage, Notebook
from console.notebooks.services import NotebookSpec, notebook_create
from console.notebooks.services import pool_schedule as notebook_schedule
from console.training.models import TrainingTask
from console.training.services.scheduling import pool_schedule
from tests.notebooks.conftest import TEST_FLAVOR
from tests.training.conftest import examples_in_bucket, flavors, local_engine  # noqa: F401 — fixtures
from tests.training.test_services import create_job, ctx, seed_algorithm  # noqa: F401 — ctx is a fixture


def test_a_training_job_does_not_land_on_a_node_a_notebook_holds(ctx):  # noqa: F811
    image = Image.objects.create(name="jl", jupyterlab_version="4.6.6", python_version="3.12")
    node_a = Node.objects.get(name="node-a")  # the scheduler's first choice by name
    NodeImage.objects.create(node=node_a, image=image, python_path=sys.executable)
    notebook = notebook_create(
        actor=ctx["actor"],
        project=ctx["project"],
        spec=NotebookSpec(name="holder", flavor_id=TEST_FLAVOR["flavor_id"], image_id=str(image.image_id)),
    )
    assert notebook_schedule(pool_id=ctx["pool"].pk) == [(notebook.pk, "node-a")]
    assert Notebook.objects.get(pk=notebook.pk).node_id == node_a.pk

    algorithm = seed_algorithm(ctx)
    first = create_job(ctx, algorithm, name="job-1")
    launches = pool_schedule(pool_id=ctx["pool"].pk)
    assert [launch.node_name for launch in launches] == ["node-b"]
    assert TrainingTask.objects.get(job=first).node.name == "node-b"
    create_job(ctx, algorithm, name="job-2")
    assert pool_schedule(pool_id=ctx["pool"].pk) == []  # node-a is the notebook's, node-b the first job's
