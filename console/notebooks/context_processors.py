"""Where base.html fetches the signed-in owner's notebook stop warnings (no query here)."""

from django.urls import reverse


def notebook_warnings(request) -> dict:
    project = getattr(request, "project", None)
    user = getattr(request, "user", None)
    if project is None or user is None or not user.is_authenticated:
        return {}
    match = getattr(request, "resolver_match", None)
    if match is not None and match.view_name == "notebooks:list":
        return {}  # the list shows the same warnings in its own live table: once is enough
    return {"notebook_warnings_url": reverse("notebooks:warnings", kwargs={"project_id": project.project_id})}
