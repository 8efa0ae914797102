"""Two administrators at once, on PostgreSQL: exactly one succeeds, the other gets a clear message."""

import threading
import time

import psycopg
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection

from console.audit.models import AuditEntry
from console.nodepools import actions
from console.nodepools.models import Node, NodeState, Pool

pytestmark = pytest.mark.django_db(transaction=True)


def _dsn() -> str:
    db = settings.DATABASES["default"]
    return f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} dbname={db['NAME']} user={db['USER']}" + (
        f" password={db['PASSWORD']}" if db.get("PASSWORD") else ""
    )


def wait_until_someone_waits_for_a_lock(timeout=15.0) -> bool:
    """From a separate connection: is another backend of this database blocked on a row lock?"""
    deadline = time.monotonic() + timeout
    with psycopg.connect(_dsn(), autocommit=True) as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()[0]
            if waiting:
                return True
            time.sleep(0.05)
    return False


@pytest.fixture
def hold_the_first_lock(monkeypatch):
    """The first administrator to get the lock keeps it until the second is queued behind it (a real overlap)."""
    seen = {"overlapped": None}
    original = actions.audit_record
    lock = threading.Lock()

    def audit(**kwargs):
        with lock:
            first = seen["overlapped"] is None
            if first:
                seen["overlapped"] = False
        if first:
            seen["overlapped"] = wait_until_someone_waits_for_a_lock()
        return original(**kwargs)

    monkeypatch.setattr(actions, "audit_record", audit)
    return seen


def race(*calls):
    """Run each call in its own thread (own database connection), started together."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            results[index] = ("ok", call())
        except ValidationError as error:
            results[index] = ("refused", " ".join(error.messages))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_admins_deleting_one_node_exactly_one_succeeds(
    pools, site_admin, org, control_calls, hold_the_first_lock, make_running_job
):
    from tests.conftest import make_user

    other_admin = make_user(org, "root2", site_admin=True)
    ppu, _ym, nodes = pools
    job = make_running_job(nodes["p1"])
    node_id = nodes["p1"].pk

    def delete_as(user):
        return lambda: actions.nodes_leave_pool(
            actor=user, pool=ppu, action="delete", scope="single", node_ids=[node_id], confirmation="DELETE"
        )

    results = race(delete_as(site_admin), delete_as(other_admin))
    assert hold_the_first_lock["overlapped"] is True, "the second action never waited for the first one's lock"
    outcomes = sorted(kind for kind, _ in results)
    assert outcomes == ["ok", "refused"]
    refused = next(message for kind, message in results if kind == "refused")
    assert refused == "Node “p1” has already left its pool; there is nothing to delete."
    assert Node.objects.get(pk=node_id).state == NodeState.DELETING
    assert AuditEntry.objects.filter(action="node.delete").count() == 1
    assert control_calls["finish"] == [node_id]
    job.refresh_from_db()
    assert job.phase_reason == "node released by an administrator"


def test_a_batch_and_a_row_action_overlapping_on_one_node_one_wins_whole(
    pools, site_admin, control_calls, hold_the_first_lock
):
    ppu, _ym, nodes = pools
    p1, p2 = nodes["p1"].pk, nodes["p2"].pk
    results = race(
        lambda: actions.nodes_leave_pool(
            actor=site_admin, pool=ppu, action="delete", scope="batch", node_ids=[p1, p2], confirmation="DELETE"
        ),
        lambda: actions.nodes_leave_pool(
            actor=site_admin, pool=ppu, action="delete", scope="single", node_ids=[p2], confirmation="DELETE"
        ),
    )
    assert sorted(kind for kind, _ in results) == ["ok", "refused"]
    if results[0][0] == "ok":
        # The batch won: both nodes left, the row action found p2 gone.
        assert "already left its pool" in results[1][1]
    else:
        # The row action won: the batch is refused whole, p1 stays.
        assert results[0][1].startswith("Nothing was changed: the batch is refused as a whole.")
        assert Node.objects.get(pk=p1).state == NodeState.AVAILABLE
    assert AuditEntry.objects.filter(action="node.delete").count() == (2 if results[0][0] == "ok" else 1)


def test_deleting_the_last_two_pools_at_once_keeps_one(make_pool, site_admin):
    a, b = make_pool("a"), make_pool("b")
    results = race(
        lambda: actions.pool_delete(actor=site_admin, pool=a, confirmation="DELETE"),
        lambda: actions.pool_delete(actor=site_admin, pool=b, confirmation="DELETE"),
    )
    assert sorted(kind for kind, _ in results) == ["ok", "refused"]
    assert "is the last pool and cannot be deleted" in next(m for k, m in results if k == "refused")
    assert Pool.objects.count() == 1
