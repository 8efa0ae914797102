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

# raycluster/client.py: why a Ray head did not answer as needed (English, from the HTTP client; stored as a
# Ray pool's health message and shown as a form error), and the interpreter probe's own message.
MESSAGES += [
    gettext_noop("The Ray head at %(address)s did not answer in time."),
    gettext_noop("Could not reach the Ray head at %(address)s: %(reason)s"),
    gettext_noop("The Ray head at %(address)s is not answering (%(code)s to %(what)s)."),
    gettext_noop("The Ray head at %(address)s refused %(what)s (%(code)s): check the auth header."),
    gettext_noop("The Ray head answered %(code)s to %(what)s: %(body)s"),
    gettext_noop("%(address)s answered %(what)s with something that is not JSON: is it a Ray dashboard?"),
    gettext_noop("%(address)s is not a Ray dashboard: it has no /api/version."),
    gettext_noop("%(address)s answered /api/version without a ray_version: is it a Ray dashboard?"),
    gettext_noop(
        "Ray %(version)s is not supported: the console needs Ray %(needed)s or newer "
        "(its Jobs API must accept entrypoint_memory)."
    ),
    gettext_noop("%(address)s answered /api/v0/nodes in an unknown shape."),
    gettext_noop("Use the dashboard's address with http:// or https://, such as http://ray-head:8265."),
    gettext_noop("The address is http(s)://host:port only: no query, fragment or credentials in it."),
    gettext_noop("The dashboard address is not valid: %(reason)s"),
    gettext_noop("The probe did not finish within %(s)s s (Ray says: %(m)s)"),
]
