from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from console.core.money import currency_code
from console.nodepools.models import BillingMode, Pool, RayCluster, name_validator
from console.nodepools.rules import CONFIRM_WORD


class PoolForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=64,
        validators=[name_validator],
        help_text=_("Workers join with CONSOLE_NODE_POOL=<name>; jobs reach them through the queue pool.<name>."),
    )
    description = forms.CharField(label=_("Description"), max_length=255, required=False)
    billing_mode = forms.ChoiceField(
        label=_("Billing mode"),
        choices=BillingMode.choices,
        initial=BillingMode.PAY_PER_USE,
        help_text=_(
            "Pay-per-use (按需计费): nodes are deleted. Yearly/monthly (包年/包月): nodes are unsubscribed or released."
        ),
    )
    hourly_price = forms.DecimalField(
        label=_("Price per node-hour"),
        max_digits=10,
        decimal_places=4,
        min_value=0,
        required=False,
        help_text=_("Pay-per-use only: the cost so far is worked out from it whenever a page shows it."),
    )
    grace_period_days = forms.IntegerField(
        label=_("Grace period (days)"),
        min_value=0,
        max_value=365,
        initial=15,
        required=False,
        help_text=_("Yearly/monthly only (宽限期): how long a node stays usable after its subscription ended."),
    )
    subscription_months = forms.IntegerField(
        label=_("Subscription term (months)"),
        min_value=1,
        max_value=60,
        initial=1,
        required=False,
        help_text=_(
            "Yearly/monthly only: a node joining the pool is subscribed for this long (12 = yearly) unless its own end date is set."
        ),
    )

    def __init__(self, *args, pool: Pool | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # The price is in the console's one currency (settings.CONSOLE_CURRENCY): the label says which.
        self.fields["hourly_price"].label = _("Price per node-hour (%(currency)s)") % {"currency": currency_code()}
        if pool is not None:
            # The name is the worker's CONSOLE_NODE_POOL and a queue name: it does not change.
            del self.fields["name"]


class RayPoolForm(forms.Form):
    """A pool backed by a Ray cluster. The rules (address checked with the head, absolute interpreter,
    limits) live in raycluster.services: its errors come back onto these fields."""

    name = forms.CharField(
        label=_("Name"),
        max_length=64,
        validators=[name_validator],
        help_text=_("Members pick the pool by this name in the job form and the API; it does not change."),
    )
    description = forms.CharField(label=_("Description"), max_length=255, required=False)
    address = forms.CharField(
        label=_("Dashboard address"),
        max_length=255,
        widget=forms.TextInput(attrs={"placeholder": "http://ray-head:8265", "spellcheck": "false"}),
        help_text=_(
            "The Ray head's dashboard, where its Jobs API answers (port 8265 by default; https works too). "
            "The console contacts it before saving."
        ),
    )
    auth_header = forms.CharField(
        label=_("Auth header name"),
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "Authorization", "spellcheck": "false"}),
        help_text=_("Optional: a header the dashboard (or a proxy in front of it) requires. Empty: Authorization."),
    )
    auth_value = forms.CharField(
        label=_("Auth header value"),
        required=False,
        # Never rendered back, not even after a refused submission.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Optional, such as “Bearer <token>”. Stored encrypted and never shown again."),
    )
    clear_auth = forms.BooleanField(label=_("Remove the stored auth value"), required=False)
    interpreter = forms.CharField(
        label=_("Python interpreter on the Ray nodes"),
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "/opt/venv/bin/python", "spellcheck": "false"}),
        help_text=_(
            "An absolute path, such as /opt/venv/bin/python: a bare “python” on a Ray node may not be the one "
            "with the libraries. After saving, a short Ray job checks what it finds there."
        ),
    )
    console_url = forms.CharField(
        label=_("Console address as the Ray nodes reach it"),
        max_length=255,
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
        help_text=_(
            "Jobs on the cluster fetch their code and inputs and upload their outputs through this address, "
            "with short-lived signed URLs."
        ),
    )
    max_concurrent_jobs = forms.IntegerField(
        label=_("Concurrent jobs at most"),
        initial=20,
        help_text=_(
            "Ray's head holds about 85 MB per running job supervisor and runs out of memory at a few hundred: "
            "jobs above this cap wait in the console's queue."
        ),
    )
    pending_deadline_seconds = forms.IntegerField(
        label=_("Pending deadline (seconds)"),
        initial=600,
        help_text=_("A job that Ray keeps pending longer than this is stopped and fails, with the reason."),
    )

    def __init__(self, *args, cluster: RayCluster | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.cluster = cluster
        if cluster is None:
            self.fields["console_url"].initial = settings.CONSOLE_PUBLIC_URL
            del self.fields["clear_auth"]
            return
        # The name is how jobs and the API name the pool: it does not change.
        del self.fields["name"]
        if cluster.auth_value_encrypted:
            self.fields["auth_value"].help_text = _(
                "A value is stored (never shown). Leave empty to keep it, or type a new one to replace it."
            )
        else:
            del self.fields["clear_auth"]

    @staticmethod
    def initial_for(pool: Pool, cluster: RayCluster) -> dict:
        return {
            "description": pool.description,
            "address": cluster.address,
            "auth_header": cluster.auth_header,
            "interpreter": cluster.interpreter,
            "console_url": cluster.console_url,
            "max_concurrent_jobs": cluster.max_concurrent_jobs,
            "pending_deadline_seconds": cluster.pending_deadline_seconds,
        }

    def service_fields(self) -> dict:
        """The keyword arguments of ray_pool_create / ray_pool_update."""
        data = dict(self.cleaned_data)
        data["description"] = data.get("description") or ""
        data["auth_value"] = data.get("auth_value") or ""
        if self.cluster is None:
            data.pop("clear_auth", None)
        else:
            data["clear_auth"] = bool(data.get("clear_auth"))
        return data


class NodeBillingForm(forms.Form):
    subscription_end = forms.DateTimeField(
        label=_("Subscription end"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        help_text=_("This node's own end date (renewal). Empty: its start plus the pool's subscription term."),
    )
    legacy = forms.BooleanField(
        label=_("Legacy node (存量节点): released with Delete"),
        required=False,
    )

    def clean_subscription_end(self):
        value = self.cleaned_data["subscription_end"]
        if value is not None and timezone.is_naive(value):
            value = timezone.make_aware(value)
        return value


class ConfirmForm(forms.Form):
    """The typed confirmation of a Delete (the seed's 在文本框中输入“DELETE”)."""

    confirmation = forms.CharField(
        label=_("Type DELETE to confirm"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "data-confirm-word": CONFIRM_WORD}),
    )
