from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.utils.translation import gettext_lazy as _

from console.accounts.models import Organization, Role

User = get_user_model()


class ProjectForm(forms.Form):
    organization = forms.ModelChoiceField(label=_("Organisation"), queryset=Organization.objects.all())
    name = forms.RegexField(
        label=_("Name"),
        max_length=64,
        regex=r"^[A-Za-z][A-Za-z0-9_.-]*$",
        error_messages={
            "invalid": _("Use 1-64 letters, digits, '_', '-' or '.', starting with a letter."),
        },
        help_text=_("The token scope names the project by this name."),
    )
    description = forms.CharField(label=_("Description"), max_length=255, required=False)


class MemberAddForm(forms.Form):
    user = forms.ModelChoiceField(label=_("User"), queryset=User.objects.none())
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args, users=None, **kwargs):
        super().__init__(*args, **kwargs)
        if users is not None:
            self.fields["user"].queryset = users


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class UserCreateForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150, validators=[UnicodeUsernameValidator()])
    email = forms.EmailField(label=_("Email"), required=False)
    organization = forms.ModelChoiceField(label=_("Organisation"), queryset=Organization.objects.all())
    is_site_admin = forms.BooleanField(label=_("Site administrator"), required=False)


class OrganizationForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=64)


class LanguageForm(forms.Form):
    language = forms.ChoiceField(choices=[("en", "English"), ("zh-hans", "简体中文")])
    next = forms.CharField(required=False)
