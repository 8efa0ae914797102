"""Django admin for buckets: site administrators only. Here, and only here, a local
bucket can be pointed at a folder outside STORAGE_ROOT. The secret is write-only."""

from django import forms
from django.contrib import admin

from console.storage.models import Bucket


class BucketAdminForm(forms.ModelForm):
    new_secret_key = forms.CharField(
        label="Secret key",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored secret. Stored encrypted, never shown.",
    )

    class Meta:
        model = Bucket
        fields = [
            "project",
            "name",
            "kind",
            "description",
            "local_root",
            "endpoint_url",
            "region",
            "s3_bucket",
            "prefix",
            "access_key",
        ]

    def clean_local_root(self):
        value = self.cleaned_data.get("local_root", "").strip()
        if value and not value.startswith("/"):
            raise forms.ValidationError("Enter an absolute folder path, or leave empty for STORAGE_ROOT/<name>.")
        return value

    def save(self, commit=True):
        bucket = super().save(commit=False)
        if self.cleaned_data.get("new_secret_key"):
            bucket.set_secret(self.cleaned_data["new_secret_key"])
        if commit:
            bucket.save()
        return bucket


@admin.register(Bucket)
class BucketAdmin(admin.ModelAdmin):
    form = BucketAdminForm
    list_display = ["name", "project", "kind", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "project__name"]
    readonly_fields = ["created_by", "created_at"]
