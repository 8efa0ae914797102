"""Issue 15 §6.7: a 403 is one log line, not a traceback; every page has a favicon."""

from __future__ import annotations

import logging

from django.contrib.staticfiles import finders
from django.urls import reverse


def test_a_403_is_logged_as_one_line_without_a_traceback(client_for, viewer, project, caplog):
    caplog.set_level(logging.WARNING, logger="django.request")
    url = reverse("mymodels:model_create", kwargs={"project_id": project.project_id})
    response = client_for(viewer).post(url, {})
    assert response.status_code == 403
    records = [r for r in caplog.records if r.name == "django.request"]
    assert len(records) == 1
    assert "Forbidden" in records[0].getMessage()
    assert records[0].exc_info is None
    assert "Traceback" not in caplog.text


def test_pages_link_a_favicon_that_exists(client_for, member, project):
    body = (
        client_for(member)
        .get(reverse("mymodels:model_list", kwargs={"project_id": project.project_id}))
        .content.decode()
    )
    assert '<link rel="icon" href="/static/favicon.svg"' in body
    assert finders.find("favicon.svg")
