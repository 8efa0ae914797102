"""The training process's argument list and environment, the same on every executor.

Used by the console's own runner (console.training.workload) and by a Ray pool's job spec
(console.training.ray_bootstrap), so a boot file sees the same ``--<name>=<value>`` arguments and
the same ``MA_*`` / rank variables wherever it runs.
"""

from __future__ import annotations

from console.training import params
from console.training.models import TrainingJob, TrainingTask

# A script logs a scalar with one stdout line: MA_METRIC {"step": 10, "loss": 0.52, "accuracy": 0.81}
# (see examples/README.md), on any executor.
METRIC_PREFIX = "MA_METRIC "
# TensorBoard event files a script writes here ($MA_TENSORBOARD_DIR) are read as its scalars.
TENSORBOARD_DIR = "tb"


def training_arguments(job: TrainingJob, *, boot: str, inputs: dict[str, str], outputs: dict[str, str]) -> list[str]:
    """The boot file and its arguments, the same for every executor (the interpreter goes first):
    ``--<param>=<value>`` for the algorithm's parameters, ``--<input>=<dir>``, ``--<output>=<dir>``."""
    argv = [boot, *params.argv_for(job.parameters)]
    argv += [f"--{name}={path}" for name, path in inputs.items()]
    argv += [f"--{name}={path}" for name, path in outputs.items()]
    return argv


def training_env(
    job: TrainingJob, task: TrainingTask, *, tmp_dir: str, tensorboard_dir: str, master_addr: str, master_port: int
) -> dict[str, str]:
    """What the training process learns about its job from the environment, on any executor."""
    env = {
        "TMPDIR": tmp_dir,
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
        "RANK": str(task.index),
        "NODE_RANK": str(task.index),
        "WORLD_SIZE": str(job.node_count),
        "LOCAL_RANK": "0",
        "LOCAL_WORLD_SIZE": "1",
        "MASTER_ADDR": master_addr,
        "MASTER_PORT": str(master_port),
        "MA_JOB_ID": str(job.uuid),
        "MA_TASK_NAME": task.name,
        "MA_NUM_HOSTS": str(job.node_count),
        "VC_TASK_INDEX": str(task.index),
        "MA_TENSORBOARD_DIR": tensorboard_dir,
    }
    if master_addr.startswith("127."):
        env["GLOO_SOCKET_IFNAME"] = "lo"
    return env
