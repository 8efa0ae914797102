from django import forms
from django.utils.translation import gettext_lazy as _

from console.authorizations.models import ALL_USERS, Access, Authorization
from console.authorizations.services import MAX_SUFFIX_LENGTH
from console.core.confirm import CONFIRM_WORD, require_typed_delete


class AgencyForm(forms.Form):
    agency_name_suffix = forms.CharField(
        label=_("Agency name suffix"),
        required=False,
        max_length=MAX_SUFFIX_LENGTH,
        help_text=_(
            "The agency is named ma_agency_<suffix> (letters, digits, _ - . — up to 50 characters). "
            "Leave empty for modelarts_agency."
        ),
    )
    description = forms.CharField(label=_("Description"), required=False, max_length=255)
    access = forms.ChoiceField(label=_("Access"), choices=Access.choices, initial=Access.READ_WRITE)
    all_buckets = forms.BooleanField(
        label=_("Every bucket of the project (also buckets created later)"), required=False, initial=True
    )
    buckets = forms.ModelMultipleChoiceField(
        label=_("Buckets"),
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Only when not every bucket: the buckets this agency reaches."),
    )

    def __init__(self, *args, buckets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["buckets"].queryset = buckets

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("all_buckets") and not cleaned.get("buckets"):
            self.add_error("buckets", _("Choose at least one bucket, or every bucket."))
        return cleaned


class AuthorizationForm(forms.Form):
    user = forms.ChoiceField(
        label=_("User"),
        help_text=_("All users (all-users) covers every member of the project, including members added later."),
    )
    type = forms.ChoiceField(
        label=_("Type"), choices=Authorization.Type.choices, initial=Authorization.Type.AGENCY, widget=forms.RadioSelect
    )
    agency = forms.ModelChoiceField(label=_("Agency"), queryset=None, required=False, empty_label=_("— choose —"))
    access_key = forms.CharField(
        label=_("Access key (AK)"), required=False, max_length=128, help_text=_("Credential only.")
    )
    secret_key = forms.CharField(
        label=_("Secret key (SK)"),
        required=False,
        max_length=256,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Credential only. Stored encrypted; never shown again."),
    )

    def __init__(self, *args, users, agencies, **kwargs):
        super().__init__(*args, **kwargs)
        self._users = {str(u.pk): u for u in users}
        self.fields["user"].choices = [(ALL_USERS, _("All users (all-users)"))] + [
            (str(u.pk), u.username) for u in users
        ]
        self.fields["agency"].queryset = agencies

    def clean_user(self):
        value = self.cleaned_data["user"]
        return None if value == ALL_USERS else self._users[value]

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("type")
        if kind == Authorization.Type.AGENCY and not cleaned.get("agency"):
            self.add_error("agency", _("Choose the agency to give."))
        if kind == Authorization.Type.CREDENTIAL:
            if not cleaned.get("access_key"):
                self.add_error("access_key", _("A credential needs the access key."))
            if not cleaned.get("secret_key"):
                self.add_error("secret_key", _("A credential needs the secret key."))
        return cleaned

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        if data["type"] == Authorization.Type.AGENCY:
            return {"user": data["user"], "type": data["type"], "agency": data["agency"]}
        return {
            "user": data["user"],
            "type": data["type"],
            "access_key": data["access_key"],
            "secret_key": data["secret_key"],
        }


class ConfirmWordForm(forms.Form):
    """The typed confirmation the seed uses for destructive actions."""

    WORD = CONFIRM_WORD
    confirm = forms.CharField(label=_("Type DELETE to confirm"), max_length=20, strip=False)

    def clean_confirm(self):
        value = self.cleaned_data["confirm"]
        require_typed_delete(value)
        return value
