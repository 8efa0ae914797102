"""The "a project keeps at least one project admin" rule holds when two changes race (PostgreSQL row locks)."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from console.accounts import services
from console.accounts.models import Membership, Role

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are proven on PostgreSQL")


def race(*calls):
    """Run the calls at the same moment, each in its own thread and connection. -> results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except Exception as error:  # noqa: BLE001 - the outcome is what the test inspects
            results[i] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.parametrize("round_", range(3))
def test_it_keeps_one_admin_when_two_admins_step_down_at_once(transactional_db, project, make_member, round_):
    ada = make_member(project, "ada", Role.ADMIN)
    bea = make_member(project, "bea", Role.ADMIN)
    a, b = Membership.objects.get(user=ada), Membership.objects.get(user=bea)
    results = race(
        lambda: services.membership_change_role(actor=ada, membership=a, role=Role.MEMBER),
        lambda: services.membership_change_role(actor=bea, membership=b, role=Role.MEMBER),
    )
    assert Membership.objects.filter(project=project, role=Role.ADMIN).count() == 1
    errors = [r for r in results if isinstance(r, Exception)]
    # One wins; the other is told why, never a database error (a deadlock would be a 500).
    assert len(errors) == 1 and isinstance(errors[0], ValidationError), results


@pytest.mark.parametrize("round_", range(3))
def test_it_keeps_one_admin_when_two_admins_are_removed_at_once(transactional_db, project, make_member, round_):
    ada = make_member(project, "ada", Role.ADMIN)
    bea = make_member(project, "bea", Role.ADMIN)
    a, b = Membership.objects.get(user=ada), Membership.objects.get(user=bea)
    results = race(
        lambda: services.membership_remove(actor=bea, membership=a),
        lambda: services.membership_remove(actor=ada, membership=b),
    )
    assert Membership.objects.filter(project=project, role=Role.ADMIN).count() == 1
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], ValidationError), results
