"""The notebook poller (Celery beat): lost runners, start timeouts, waiting notebooks, leases.

A cycle costs a constant number of queries whatever the number of notebooks: one conditional
``UPDATE … WHERE state = <expected> RETURNING id`` per kind of transition, one read of the running
notebooks with a lease, one bulk insert of events. Every update names the state it expects, so two
sweeps at once (or a sweep and a runner) cannot undo each other or warn twice.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from console.notebooks.models import Notebook, NotebookEvent
from console.notebooks.services import automatic_stop_at, dispatch, pool_schedule
from console.notebooks.sql import update_returning
from console.notebooks.states import WAITING, LeaseType, State


def _n(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def sweep(now=None) -> dict[str, int]:
    now = now or timezone.now()
    events: list[NotebookEvent] = []
    counts: dict[str, int] = {}

    def move(name, queryset, values, message):
        ids = update_returning(queryset, values)
        counts[name] = len(ids)
        events.extend(NotebookEvent(notebook_id=pk, at=now, kind=name, message=message) for pk in ids)

    timeout = settings.TRAINING_RUNNER_TIMEOUT_SECONDS
    silent = Notebook.objects.exclude(runner_token="").filter(heartbeat_at__lt=now - timedelta(seconds=timeout))
    lost = _("Its node stopped reporting: no heartbeat from the notebook's runner for %(seconds)s seconds.") % {
        "seconds": _n(timeout)
    }
    move(
        "lost",
        silent.filter(state__in=(State.STARTING, State.RUNNING)),
        {"state": State.ERROR, "fail_reason": lost, "stopped_at": now, "kernels_busy": 0, "connections": 0},
        lost,
    )
    unsaved = _("Stopped, but saving the work folder could not be confirmed: %(reason)s") % {"reason": lost}
    move(
        "lost_stopping",
        silent.filter(state__in=(State.STOPPING, State.SNAPSHOTTING)),
        {"state": State.STOPPED, "fail_reason": unsaved, "stopped_at": now},
        unsaved,
    )
    undeleted = _("Deleting could not be confirmed: %(reason)s Delete it again.") % {"reason": lost}
    move(
        "lost_deleting",
        silent.filter(state=State.DELETING),
        {"state": State.DELETE_FAILED, "fail_reason": undeleted, "stopped_at": now},
        undeleted,
    )

    launch = settings.TRAINING_LAUNCH_TIMEOUT_SECONDS
    no_runner = _("The runner did not start on its node within %(seconds)s seconds.") % {"seconds": _n(launch)}
    move(
        "start_failed",
        Notebook.objects.filter(
            state=State.STARTING, runner_token="", node__isnull=False, assigned_at__lt=now - timedelta(seconds=launch)
        ),
        {"state": State.START_FAILED, "fail_reason": no_runner, "stopped_at": now},
        no_runner,
    )

    start_timeout = settings.NOTEBOOK_START_TIMEOUT_SECONDS
    slow = _(
        "JupyterLab did not answer within %(seconds)s seconds of the start request (see the events and the log)."
    ) % {"seconds": _n(start_timeout)}
    move(
        "start_timeout",
        Notebook.objects.filter(state=State.STARTING, start_requested_at__lt=now - timedelta(seconds=start_timeout)),
        {"state": State.START_FAILED, "fail_reason": slow, "stopped_at": now},
        slow,
    )
    never = _("No node of the pool had room for the notebook within %(seconds)s seconds.") % {
        "seconds": _n(start_timeout)
    }
    move(
        "create_timeout",
        Notebook.objects.filter(state=State.CREATING, start_requested_at__lt=now - timedelta(seconds=start_timeout)),
        {"state": State.CREATE_FAILED, "fail_reason": never, "stopped_at": now},
        never,
    )

    counts.update(_leases(now, events))
    NotebookEvent.objects.bulk_create(events)

    pools = set(Notebook.objects.filter(state__in=WAITING, node__isnull=True).values_list("pool_id", flat=True))
    launched = 0
    for pool_id in pools - {None}:
        launches = pool_schedule(pool_id=pool_id)
        dispatch(launches)
        launched += len(launches)
    counts["launched"] = launched
    return counts


def _leases(now, events) -> dict[str, int]:
    warning = timedelta(seconds=settings.NOTEBOOK_STOP_WARNING_SECONDS)
    running = list(
        Notebook.objects.filter(state=State.RUNNING, lease_enable=True, lease_create_at__isnull=False).only(
            "pk",
            "state",
            "lease_type",
            "lease_duration_ms",
            "lease_enable",
            "lease_create_at",
            "lease_warned_at",
            "last_activity_at",
            "running_at",
            "kernels_busy",
            "connections",
        )
    )
    warn, unwarn, stop_timing, stop_idle = [], [], [], []
    for notebook in running:
        deadline = automatic_stop_at(notebook)
        if deadline is None:
            if notebook.lease_warned_at:
                unwarn.append(notebook.pk)  # busy again: the warning no longer holds
            continue
        if notebook.lease_warned_at is None:
            if deadline - now <= warning:
                warn.append((notebook.pk, deadline))
        elif now >= deadline:
            (stop_idle if notebook.lease_type == LeaseType.IDLE else stop_timing).append(notebook.pk)
        elif deadline - now > warning:
            unwarn.append(notebook.pk)
    counts = {"warned": 0, "stopped": 0}
    if unwarn:
        Notebook.objects.filter(pk__in=unwarn, state=State.RUNNING).update(lease_warned_at=None)
    if warn:
        ids = set(
            update_returning(
                Notebook.objects.filter(
                    pk__in=[pk for pk, _d in warn], state=State.RUNNING, lease_warned_at__isnull=True
                ),
                {"lease_warned_at": now},
            )
        )
        counts["warned"] = len(ids)
        for pk, _deadline in warn:
            if pk in ids:
                events.append(
                    NotebookEvent(
                        notebook_id=pk,
                        at=now,
                        kind="lease_warning",
                        message=_("It stops automatically in about %(minutes)s minute(s) unless the lease is renewed.")
                        % {"minutes": max(1, round(settings.NOTEBOOK_STOP_WARNING_SECONDS / 60))},
                    )
                )
    for ids, reason in (
        (stop_timing, _("Stopped automatically: the lease ran out.")),
        (
            stop_idle,
            _(
                "Stopped automatically: idle for the lease's idle time (no busy kernel, no activity, no open connection)."
            ),
        ),
    ):
        if not ids:
            continue
        moved = update_returning(
            Notebook.objects.filter(pk__in=ids, state=State.RUNNING, lease_warned_at__isnull=False),
            {"state": State.STOPPING, "stop_requested": True, "stop_reason": reason},
        )
        counts["stopped"] += len(moved)
        events.extend(NotebookEvent(notebook_id=pk, at=now, kind="auto_stop", message=reason) for pk in moved)
    return counts
