"""Every page the console serves, rendered once with the fuzz test's fixture project, and its visible text.

Shared by test_translations.py (every page in Chinese) and test_no_seed_word.py (every page
in English). The pages come from Django's resolver (tests/foundation/test_fuzz_urls.py's
walker), so a new page is checked the day it is added. Only GET pages that answer HTML
are read; the API, downloads and Django's own admin are not ours to word.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

from django.test import Client
from django.utils import timezone

from tests.foundation.test_fuzz_urls import all_routes, build_url

# Elements whose content is code, data or not shown.
SKIP_ELEMENTS = {"script", "style", "code", "pre", "template", "svg", "kbd", "samp", "var"}
SKIP_CLASSES = {"mono", "code"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# Attributes a reader sees (the rest are data for scripts, URLs, ids).
VISIBLE_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")


class TextNodes(HTMLParser):
    """The text a reader sees, without code, scripts and what is marked translate="no" / class mono or code.

    ``attributes`` collects the visible attributes (titles, placeholders) of the elements
    that are not skipped.
    """

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, skipped)
        self.texts: list[str] = []
        self.attributes: list[str] = []

    def _skipping(self) -> bool:
        return any(skipped for _tag, skipped in self.stack)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        classes = set((values.get("class") or "").split())
        skipped = (
            tag in SKIP_ELEMENTS
            or (values.get("translate") or "").lower() == "no"
            or bool(classes & SKIP_CLASSES)
            or "hidden" in values
            # Written in English on purpose, and marked so (the "English" language switch).
            or (values.get("lang") or "").lower().startswith("en")
        )
        if not skipped and not self._skipping():
            self.attributes += [values[name] for name in VISIBLE_ATTRIBUTES if values.get(name)]
            if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
                self.attributes.append(values["value"])
        if tag not in VOID:
            self.stack.append((tag, skipped))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        # Close up to the matching element (browsers forgive a missing </p> or </li>).
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                return

    def handle_data(self, data):
        if data.strip() and not self._skipping():
            self.texts.append(data.strip())


@dataclass
class Page:
    url: str
    name: str
    texts: list[str]
    attributes: list[str]
    html: str = field(repr=False, default="")


def visible_text(html: str) -> tuple[list[str], list[str]]:
    parser = TextNodes()
    parser.feed(html)
    parser.close()
    return parser.texts, parser.attributes


def enrich(world) -> None:
    """What a job's life leaves in the database, written as the console writes it (in English,
    by a worker): timeline events, a phase reason, and a finished job."""
    from console.training.models import EventKind, JobEvent, TrainingJob

    job = TrainingJob.objects.get(uuid=world["values"]["job_id"])
    now = timezone.now()
    for kind, message in [
        (EventKind.QUEUED, "Queued in pool default."),
        (EventKind.ASSIGNED, "Nodes assigned: node-a."),
        (EventKind.RUNNING, "Running on node-a."),
        (EventKind.TASK_EXIT, "worker-0: The training process exited with code 0."),
        (EventKind.FINISHED, "Completed"),
    ]:
        JobEvent.objects.create(job=job, at=now, kind=kind, message=message)
    from console.audit.services import audit_record
    from console.nodepools.models import Node

    node = Node.objects.order_by("pk").first()
    # A node release's audit entry carries the billing sentence (nodepools.billing.billing_effect).
    audit_record(
        actor=None,
        action="node.delete",
        obj=node,
        after={"billing": "Billing by the hour stops now after 3 node-hours (this pool has no hourly price set)."},
    )
    TrainingJob.objects.filter(pk=job.pk).update(
        phase_reason="Waiting for a worker of pool default to take the job.",
    )


def admin_client(clients: dict, world) -> Client:
    if "admin" not in clients:
        clients["admin"] = Client()
        clients["admin"].force_login(world["admin"], backend="django.contrib.auth.backends.ModelBackend")
    return clients["admin"]


def render_every_page(world, *, language: str) -> tuple[list[Page], list[str]]:
    """(the HTML pages, the URLs that answered something else than 2xx or 3xx / HTML)."""
    for who in ("member", "admin"):
        profile = world[who].profile
        profile.language = language
        profile.save(update_fields=["language"])
    clients: dict[str, Client] = {}
    pages, skipped = [], []
    for route in all_routes():
        if route.is_api or route.template.startswith("django-admin/"):
            continue
        values = {**world["values"], **world["by_route"].get(route.name, {})}
        url = build_url(route, values)
        who = "admin" if url.startswith(("/admin/", "/users/", "/organizations/")) else "member"
        client = clients.get(who)
        if client is None:
            client = clients[who] = Client()
            client.force_login(world[who], backend="django.contrib.auth.backends.ModelBackend")
        response = client.get(url)
        if response.status_code == 403 and who == "member":  # an administrator's page under a project
            response = admin_client(clients, world).get(url)
        if getattr(response, "streaming", False):
            skipped.append(f"{response.status_code} {url} (a download)")
            continue
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            skipped.append(f"{response.status_code} {url}")
            continue
        html = response.content.decode()
        texts, attributes = visible_text(html)
        pages.append(Page(url=url, name=route.name, texts=texts, attributes=attributes, html=html))
    return pages, skipped
