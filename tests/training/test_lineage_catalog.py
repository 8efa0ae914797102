"""A site administrator adds a base model with its reference config (the tiny Llama of examples/tiny_finetune)."""

from __future__ import annotations

import io
import json
import shutil

import pytest
from django.urls import reverse

from console.audit.models import AuditEntry
from console.mymodels.models import BaseModelSeries, BaseModelVersion, site_templates_dir
from console.mymodels.services import catalog_load
from console.weightcheck import load_template
from examples.tiny_finetune.tiny_model import reference_config
from tests.mymodels.fixtures import catalog  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db
PAGE = "mymodels:base_version_admin"


@pytest.fixture(autouse=True)
def _clean_site_templates():
    yield
    for slug in ("tiny-llama-unit", "broken"):
        shutil.rmtree(site_templates_dir() / slug, ignore_errors=True)


def upload(payload: bytes):
    file = io.BytesIO(payload)
    file.name = "config.json"
    return file


def post(client, payload: bytes, slug="tiny-llama-unit"):
    series = BaseModelSeries.objects.get(slug="llama2")
    return client.post(
        reverse(PAGE), {"series": series.pk, "name": "Tiny-Llama", "slug": slug, "config": upload(payload)}
    )


def test_a_site_admin_adds_the_tiny_base_model(catalog, site_admin, client_for):  # noqa: F811
    client = client_for(site_admin)
    assert client.get(reverse(PAGE)).status_code == 200
    response = post(client, json.dumps(reference_config()).encode())
    assert response.status_code == 302
    base = BaseModelVersion.objects.get(slug="tiny-llama-unit")
    assert base.template == "site:tiny-llama-unit" and base.validation_supported and base.active
    template = load_template(base.template_dir)
    assert template.model_type == "llama" and template.architectures == ("LlamaForCausalLM",)
    assert template.standard_config()["hidden_size"] == 64
    assert AuditEntry.objects.filter(action="catalog.base_version_add").count() == 1
    # Reloading the shipped catalog leaves it offered (it is not in series.json).
    catalog_load()
    assert BaseModelVersion.objects.get(slug="tiny-llama-unit").active
    assert "Tiny-Llama" in client.get(reverse(PAGE)).content.decode()


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"not json", "config.json is not valid JSON"),
        (b"[1, 2]", "config.json must be a JSON object."),
        (json.dumps({"model_type": "llama"}).encode(), "config.json has no architectures list"),
        (json.dumps({**reference_config(), "auto_map": {"AutoModel": "x.Y"}}).encode(), "needs custom code"),
    ],
)
def test_a_bad_config_is_refused_and_nothing_is_written(catalog, site_admin, client_for, payload, message):  # noqa: F811
    response = post(client_for(site_admin), payload, slug="broken")
    assert response.status_code == 200 and message in response.content.decode()
    assert not BaseModelVersion.objects.filter(slug="broken").exists()
    assert not (site_templates_dir() / "broken").exists()


def test_only_site_admins(catalog, member, client_for):  # noqa: F811
    assert client_for(member).get(reverse(PAGE)).status_code in (403, 404)
