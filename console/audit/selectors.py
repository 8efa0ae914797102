from console.audit.models import AuditEntry


def audit_entry_list(*, actor: str = "", action: str = "", object_type: str = "", project_id: str = ""):
    """Filtered audit entries, newest first. Site administrators only (checked by the view)."""
    entries = AuditEntry.objects.all()
    if actor:
        entries = entries.filter(actor_name__icontains=actor)
    if action:
        entries = entries.filter(action=action)
    if object_type:
        entries = entries.filter(object_type=object_type)
    if project_id:
        entries = entries.filter(project__project_id=project_id)
    return entries


def audit_filter_choices() -> dict[str, list[str]]:
    return {
        "actions": list(AuditEntry.objects.order_by().values_list("action", flat=True).distinct()),
        "object_types": list(AuditEntry.objects.order_by().values_list("object_type", flat=True).distinct()),
    }
