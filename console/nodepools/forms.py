from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from console.core.money import currency_code
from console.nodepools.models import BillingMode, Pool, name_validator
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
