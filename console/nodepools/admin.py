"""Django admin: a read-only view of pools and nodes for troubleshooting.

Changes go through the console's pages (console.nodepools.actions), where the
billing-mode rules, the row locks, the job stops and the audit log live; the
Django admin offers none of that, so it may only look.
"""

from django.contrib import admin

from console.nodepools.models import Node, Pool


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Pool)
class PoolAdmin(ReadOnlyAdmin):
    list_display = ["name", "billing_mode", "hourly_price", "grace_period_days", "subscription_months", "is_default"]


@admin.register(Node)
class NodeAdmin(ReadOnlyAdmin):
    list_display = ["name", "pool", "state", "worker_name", "heartbeat_at", "subscription_end", "legacy", "removed_at"]
    list_filter = ["pool", "state", "legacy"]
    search_fields = ["name", "hostname", "worker_name"]
