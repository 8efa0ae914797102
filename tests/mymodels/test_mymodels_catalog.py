"""The base-model catalog: seed table 2 exactly, versions with templates, the 约束限制 list."""

import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from console.mymodels.models import TEMPLATES_DIR, BaseModelSeries, BaseModelVersion
from console.mymodels.services import CatalogError, catalog_load

# Seed 创建我的模型, 表2 模型介绍, copied cell by cell: 模型系列, 模型类型, 应用场景, 支持语言.
SEED_TABLE_2 = [
    ("GLM-4", "文本生成", "对话问答、长文本推理、代码生成", "中文、英文"),
    ("ChatGLM3", "文本生成", "对话问答、数学推理、代码生成", "中文、英文"),
    ("百川2", "文本生成", "对话问答、数学推理、代码生成、翻译", "中文、英文"),
    ("Llama2", "文本生成", "对话问答、智能创作、文本摘要", "英文"),
    ("Llama3", "文本生成", "对话问答、智能创作、文本摘要", "英文"),
    ("Llama3.1", "文本生成", "对话问答、智能创作、文本摘要", "英文"),
    ("Yi", "文本生成", "代码生成、数学推理、对话问答", "中文、英文"),
    ("通义千问1.5", "文本生成", "代码生成、数学推理、对话问答", "英文"),
    ("通义千问", "文本生成", "对话问答、智能创作、文本摘要、翻译、代码生成、数学推理", "中文、英文"),
    ("通义千问2", "文本生成", "多语言处理、数学推理、对话问答", "英文"),
    ("通义千问2.5", "文本生成", "多语言处理、数学推理、对话问答", "中文、英文"),
    ("DeepseekCoder", "文本生成", "对话问答、文本推理", "中文、英文"),
    ("通义千问2-VL", "图像理解", "图像理解、对话问答", "中文、英文"),
    ("DeepSeek-R1", "文本生成", "对话问答、文本生成推理", "中文、英文"),
    ("DeepSeek-V3", "文本生成", "对话问答、翻译", "中文、英文"),
]

# Seed 约束限制 (名字必须一致); "Llama2-80B" is the published Llama-2-70B.
SEED_CONSTRAINT = {
    "ChatGLM3-6B", "GLM-4-9B-Chat", "GLM-4-9B-Chat-HF", "Qwen-7B", "Qwen-14B", "Qwen-72B",
    "Baichuan2-7B", "Baichuan2-13B", "Llama2-7B", "Llama2-13B", "Llama2-70B",
}  # fmt: skip


def test_it_loads_the_15_series_of_table_2_exactly(catalog):
    rows = [
        (s.name, s.type_zh, "、".join(s.scenarios_zh), "、".join(s.languages_zh))
        for s in BaseModelSeries.objects.order_by("position")
    ]
    assert rows == SEED_TABLE_2


def test_every_series_has_english_translations_and_versions(catalog):
    for series in BaseModelSeries.objects.prefetch_related("versions"):
        assert series.name_en and series.type_en
        assert len(series.scenarios_en) == len(series.scenarios_zh)
        assert len(series.languages_en) == len(series.languages_zh)
        assert series.versions.exists(), series.name


def test_loading_twice_changes_nothing(catalog):
    before = list(BaseModelVersion.objects.order_by("pk").values())
    counts = catalog_load()
    assert counts == {"series": 15, "versions": len(before), "deactivated": 0}
    assert list(BaseModelVersion.objects.order_by("pk").values()) == before
    assert BaseModelSeries.objects.count() == 15


def test_versions_name_a_real_template_or_say_why_not(catalog):
    for version in BaseModelVersion.objects.all():
        if version.template:
            meta = json.loads((TEMPLATES_DIR / version.template / "template.json").read_text())
            assert meta["quantization"] == version.quantization
            assert not meta.get("test_only")
        else:
            assert version.unsupported_en and version.unsupported_zh, version.name


@pytest.mark.parametrize(
    "slug, template, quantization",
    [
        ("qwen2-5-7b", "Qwen2.5-7B", "none"),
        ("qwen2-5-72b", "", "none"),
        ("llama3-8b", "", "none"),
        ("llama3-1-8b", "Llama-3.1-8B", "none"),
        ("qwen-14b", "", "none"),
        ("qwen-72b", "", "none"),
        ("deepseek-coder-6-7b-base", "", "none"),
        ("qwen2-vl-7b", "", "none"),
        ("deepseek-r1", "DeepSeek-R1", "fp8"),
        ("deepseek-v3", "DeepSeek-V3", "fp8"),
        ("glm-4-9b-chat-hf", "glm-4-9b-chat-hf", "none"),
        ("llama2-70b", "Llama-2-70b-hf", "none"),
    ],
)
def test_version_templates_and_quantization(catalog, slug, template, quantization):
    version = BaseModelVersion.objects.get(slug=slug)
    assert (version.template, version.quantization) == (template, quantization)
    assert version.validation_supported is bool(template)


def test_the_constraint_flag_follows_the_seed_list(catalog):
    flagged = set(BaseModelVersion.objects.filter(weight_config_change=True).values_list("name", flat=True))
    assert flagged == SEED_CONSTRAINT
    llama70 = BaseModelVersion.objects.get(slug="llama2-70b")
    assert "Llama2-80B" in llama70.note_en and "Llama-2-70B" in llama70.note_en
    assert "修改权重配置" in llama70.constraint_note


def test_a_version_no_longer_listed_is_deactivated_not_deleted(catalog, tmp_path):
    data = json.loads((TEMPLATES_DIR.parent / "series.json").read_text())
    for series in data["series"]:
        series["versions"] = [v for v in series["versions"] if v["slug"] != "qwen2-5-72b"]
    path = tmp_path / "series.json"
    path.write_text(json.dumps(data))
    assert catalog_load(path=path)["deactivated"] == 1
    assert BaseModelVersion.objects.get(slug="qwen2-5-72b").active is False


def test_a_template_that_disagrees_is_refused(db, tmp_path):
    data = json.loads((TEMPLATES_DIR.parent / "series.json").read_text())
    data["series"][-1]["versions"][0]["quantization"] = "none"  # DeepSeek-V3 is published FP8
    path = tmp_path / "series.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CatalogError, match="fp8"):
        catalog_load(path=path)


def test_load_catalog_command_and_setup_step(db):
    from console.core.setup_steps import setup_steps
    from console.mymodels.apps import load_base_model_catalog

    call_command("load_catalog", verbosity=0)
    assert BaseModelSeries.objects.count() == 15
    assert load_base_model_catalog in setup_steps()
    assert setup_steps().count(load_base_model_catalog) == 1


# --- the catalog page ----------------------------------------------------------------------


def catalog_url(project, **params):
    from urllib.parse import urlencode

    url = reverse("mymodels:catalog", kwargs={"project_id": project.project_id})
    return f"{url}?{urlencode(params)}" if params else url


def test_catalog_page_lists_every_series(client_for, viewer, project, catalog):
    response = client_for(viewer).get(catalog_url(project))
    assert response.status_code == 200
    body = response.content.decode()
    for name, *_ in SEED_TABLE_2:
        assert name in body
    assert "<html" in body and "Qwen2.5-72B" in body


def test_catalog_partial_is_only_the_table(client_for, viewer, project, catalog):
    response = client_for(viewer).get(catalog_url(project, type="图像理解"), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "<html" not in body and 'id="catalog-table"' in body
    assert "Qwen2-VL" in body and "Llama3.1" not in body


@pytest.mark.parametrize(
    "params, present, absent",
    [
        ({"series": "yi"}, ["Yi-34B"], ["Qwen2.5-7B"]),
        ({"language": "中文"}, ["GLM-4-9B-Chat"], ["Llama2-7B"]),
        ({"language": "英文", "scenario": "多语言处理"}, ["Qwen2-7B", "Qwen2.5-7B"], ["Yi-6B"]),
        ({"scenario": "长文本推理"}, ["GLM-4-9B-Chat"], ["ChatGLM3-6B"]),
    ],
)
def test_catalog_filters(client_for, viewer, project, catalog, params, present, absent):
    body = client_for(viewer).get(catalog_url(project, **params), HTTP_HX_REQUEST="true").content.decode()
    for name in present:
        assert name in body
    for name in absent:
        assert f">{name}<" not in body


def test_catalog_is_404_for_non_members(client_for, other_project, make_member, project, catalog):
    outsider = make_member(other_project, "olga")
    assert client_for(outsider).get(catalog_url(project)).status_code == 404
