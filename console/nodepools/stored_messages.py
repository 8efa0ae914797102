"""Messages node pools store as text, read back at display (see console/core/stored_text.py):
the billing sentence of a node's audit entry, and the default pool's description."""

from django.utils.translation import gettext_noop

MESSAGES = [
    # billing.billing_effect (stored in the audit entry of a node release)
    gettext_noop("Billing by the hour stops now after %(hours)s node-hours (this pool has no hourly price set)."),
    gettext_noop("Billing by the hour stops now: %(hours)s node-hours at %(price)s per hour, %(cost)s so far."),
    gettext_noop("Legacy node (存量节点): released now; its yearly/monthly subscription is not renewed."),
    gettext_noop(
        "The subscription ends now instead of on %(end)s: the remaining %(days)s days are unsubscribed (退订)."
    ),
    gettext_noop(
        "The subscription expired on %(end)s; the node is released now instead of at the end of its grace "
        "period (%(grace_end)s)."
    ),
    gettext_noop(
        "The subscription expired on %(end)s and its grace period ended on %(grace_end)s; the node is released now."
    ),
    # services.pool_default_ensure: the default pool's description, stored once at set-up.
    gettext_noop("Nodes started by the run command."),
    gettext_noop("node released by an administrator"),
]

# A node's state is stored as its value, which is its label's message id ("Available").
MESSAGES += [
    gettext_noop("Creating"),
    gettext_noop("Available"),
    gettext_noop("Abnormal"),
    gettext_noop("Deleting"),
    gettext_noop("Deleted"),
]

# workloads/scalars.py: warnings about the metrics a script logs (English, written on the node).
from console.nodepools.workloads import scalars as _scalars  # noqa: E402 — the templates live beside their use

MESSAGES += [
    _scalars.SKIPPED,
    _scalars.TOTAL,
    _scalars.NOT_JSON,
    _scalars.BAD_STEP,
    _scalars.BAD_EVENT_STEP,
    _scalars.BAD_NAME,
    _scalars.UNPRINTABLE_NAME,
    _scalars.NOT_A_NUMBER,
    _scalars.NOT_FINITE,
    _scalars.POINTS_CAPPED,
    _scalars.NAMES_CAPPED,
    _scalars.NO_TENSORBOARD,
    _scalars.FILE_UNOPENED,
    _scalars.FILE_NOT_EVENTS,
    _scalars.FILE_TRUNCATED,
]
