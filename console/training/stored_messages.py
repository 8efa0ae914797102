"""The messages training stores as text (job timeline, phase reason, task message), read back at display.

See console/core/stored_text.py. The ids here are the ones the services, the scheduler,
the reconciler and the task's runner write; a test checks each is in the catalog.
The runner's own lines (written on the node, in English) are listed with
gettext_noop so that they are translated at display too.
"""

from django.utils.translation import gettext_noop

from console.training.phases import Phase

# A phase's value is its label's message id ("Completed").
_PHASE_IDS = [phase.value for phase in Phase]

MESSAGES = [
    # services/jobs.py
    gettext_noop("Created by %(user)s: %(count)s × %(flavor)s in pool %(pool)s."),
    gettext_noop("Stopped by %(user)s."),
    gettext_noop("Deleted by %(user)s."),
    gettext_noop("the system"),
    # services/scheduling.py
    gettext_noop("Queued in pool %(pool)s."),
    gettext_noop("Nodes assigned: %(nodes)s."),
    gettext_noop("Queued behind earlier jobs in pool %(pool)s."),
    gettext_noop("Starting on %(nodes)s: downloading code and inputs."),
    gettext_noop("No node of pool %(pool)s is online: the job starts when one registers."),
    gettext_noop("(%(node)s has %(what)s)"),
    gettext_noop(
        "The job needs %(count)s node(s) of flavor %(flavor)s with engine %(engine)s; only %(able)s online node(s) "
        "of pool %(pool)s can run it%(detail)s."
    ),
    gettext_noop(
        "Waiting for %(count)s free node(s) of flavor %(flavor)s in pool %(pool)s: %(free)s free now, "
        "%(busy)s busy with other jobs."
    ),
    # services/catalog.py (why a node does not fit)
    gettext_noop("%(cores)s CPU cores"),
    gettext_noop("%(n)s GPUs"),
    gettext_noop("a %(arch)s CPU"),
    gettext_noop("%(gb).1f GiB memory"),
    gettext_noop("%(gb).0f GiB disk"),
    # services/reconcile.py
    gettext_noop("The runner stopped reporting: no heartbeat for %(seconds)s seconds."),
    gettext_noop("The runner did not start on its node within %(seconds)s seconds."),
    gettext_noop("Stopping could not be confirmed: %(task)s on %(node)s — %(message)s"),
    gettext_noop("%(task)s on node %(node)s: %(message)s"),
    gettext_noop("Waiting for a worker of pool %(pool)s to take the job."),
    gettext_noop("Running on %(nodes)s."),
    gettext_noop("Another task of the job was stopped."),
    gettext_noop("Not started: the job ended."),
    gettext_noop("Another task of the job ended it."),
    # workload.py and the node runner: English lines written on the node.
    gettext_noop("Stop requested."),
    gettext_noop("%(task)s: downloaded %(counts)s in %(seconds)s s."),
    gettext_noop("code: %(count)s file(s)"),
    gettext_noop("%(input)s: %(count)s file(s)"),
    gettext_noop("The boot file %(path)s is not in the code directory any more."),
    gettext_noop("Could not download %(what)s from %(url)s: %(error)s"),
    gettext_noop("Engine %(engine)s is not installed on node %(node)s."),
    gettext_noop("The training process exited with code %(code)s."),
    gettext_noop("The training process was killed by %(signal)s (exit code %(code)s)."),
    gettext_noop(
        "Stopped: the training process used %(used)s GiB of memory, more than the %(limit)s GiB of flavor %(flavor)s."
    ),
    gettext_noop("%(task)s: log exported to %(url)s."),
    gettext_noop("%(task)s: the log could not be exported: %(error)s"),
    gettext_noop(
        "%(task)s: outputs uploaded to %(urls)s: %(count)s file(s) (%(sent)s sent at the end, the rest while it ran)."
    ),
    gettext_noop("Uploading the outputs failed: %(error)s"),
    gettext_noop("Internal error in the runner: %(error)s"),
    gettext_noop("The runner on node %(node)s was terminated (SIGTERM)."),
    # services/ray_jobs.py (a Ray pool's jobs) and ray_views.py
    gettext_noop("Submitting to the Ray cluster of pool %(pool)s."),
    gettext_noop(
        "The Ray cluster of pool %(pool)s is unreachable (%(why)s): the job is submitted when its head answers."
    ),
    gettext_noop("no answer"),
    gettext_noop(
        "Pool %(pool)s runs %(max)s Ray jobs at once (its cap protects the Ray head): "
        "the job is submitted when one ends."
    ),
    gettext_noop("Pool %(pool)s is no longer a Ray pool."),
    gettext_noop("The Ray head of pool %(pool)s did not answer (%(why)s): submitting again shortly."),
    gettext_noop("The Ray cluster of pool %(pool)s refused the job: %(why)s"),
    gettext_noop("%(task)s: found already submitted to Ray as %(id)s (an earlier attempt got through)."),
    gettext_noop("%(task)s: submitted to the Ray cluster of pool %(pool)s as %(id)s."),
    gettext_noop("Ray: %(message)s"),
    gettext_noop(
        "The Ray head of pool %(pool)s no longer knows job %(id)s: it restarted or dropped the job. "
        "Its log up to then is kept; run the job again."
    ),
    gettext_noop("Ray did not start the job within %(seconds)s s (the pool's pending deadline): %(why)s"),
    gettext_noop("Ray stopped the job: %(why)s"),
    gettext_noop("The training process exited with code %(code)s. Ray: %(message)s"),
    gettext_noop("Ray reports the job failed: %(message)s"),
    gettext_noop("Ray reports the job failed."),
    # Put together in code: "<phase>: <reason>" (a finished event), "<task>: <message>" and a list.
    ("%(phase)s: %(reason)s", {"phase": _PHASE_IDS}),
    *_PHASE_IDS,
    ("%(task)s: %(message)s", {}),
    ("%(first)s, %(rest)s", {}),
]
