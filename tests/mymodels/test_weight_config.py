"""修改权重配置 in the console itself: every family the 约束限制 note lists links to its own steps."""

import re

import pytest
from django.urls import reverse

from console.mymodels.models import BaseModelVersion

HX = {"HTTP_HX_REQUEST": "true"}
# The families of the ModelArts documentation's 约束限制 note (ChatGLM3-6B, GLM-4-9B, Qwen-7B/14B/72B,
# Baichuan2-7B/13B, Llama2-7B/13B/80B), as catalog series.
NOTE_FAMILIES = {"chatglm3", "glm-4", "qwen", "baichuan2", "llama2"}


def url(name, project, **kwargs):
    return reverse(f"mymodels:{name}", kwargs={"project_id": project.project_id, **kwargs})


def test_the_catalog_flags_exactly_the_note_families(catalog):
    flagged = set(BaseModelVersion.objects.filter(weight_config_change=True).values_list("series__slug", flat=True))
    assert flagged == NOTE_FAMILIES


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_each_flagged_base_models_note_links_to_its_familys_steps(client_for, member, project, catalog, language):
    member.profile.language = language
    member.profile.save(update_fields=["language"])
    client = client_for(member)
    steps = client.get(url("weight_config", project))
    assert steps.status_code == 200
    page = steps.content.decode()
    assert "see the documentation" not in page.lower()
    for version in BaseModelVersion.objects.filter(weight_config_change=True).select_related("series"):
        family = version.series.slug
        info = client.get(url("base_version_info", project), {"base_version": version.pk}, **HX).content.decode()
        note = re.search(r"data-constraint-note>(.*?)</div>", info, re.S).group(1)
        assert "see the documentation" not in note
        assert f'href="{url("weight_config", project)}#{family}"' in note, (version.slug, note)
        # The link lands on a section of the steps page that names this base model and has steps.
        section = re.search(rf'<section[^>]*id="{re.escape(family)}".*?</section>', page, re.S)
        assert section is not None, family
        assert version.name in section.group(0)
        assert len(re.findall(r"<li>", section.group(0))) >= 2, family
        assert "config.json" in section.group(0)


def test_the_model_page_and_the_catalog_link_the_steps(client_for, member, project, catalog, make_model):
    client = client_for(member)
    catalog_page = client.get(url("catalog", project)).content.decode()
    for family in NOTE_FAMILIES:
        assert f"{url('weight_config', project)}#{family}" in catalog_page, family
    model = make_model(base_version=BaseModelVersion.objects.get(slug="llama2-70b"))
    detail = client.get(url("model_detail", project, model_id=model.pk)).content.decode()
    assert f"{url('weight_config', project)}#llama2" in detail


def test_a_viewer_reads_the_steps_and_an_outsider_does_not(client_for, viewer, project, other_project, catalog):
    assert client_for(viewer).get(url("weight_config", project)).status_code == 200
    assert client_for(viewer).get(url("weight_config", other_project)).status_code in (403, 404)
