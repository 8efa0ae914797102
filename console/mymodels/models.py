"""The base-model catalog (seed 表2) and My Models (seed 创建我的模型, 表1).

A model's versions live in the versions app (above this one); a model's status is derived from
them (see ``ModelStatus`` and ``selectors.model_list``), never stored, so it can
not disagree with what its versions say.
"""

from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

CATALOG_DATA_DIR = Path(__file__).resolve().parent.parent / "catalog_data"
TEMPLATES_DIR = CATALOG_DATA_DIR / "templates"
# Base models a site administrator added (console.mymodels.site_catalog): their reference
# config lives in the var dir, not in the shipped catalog; their template is "site:<slug>".
SITE_TEMPLATE_PREFIX = "site:"


def site_templates_dir() -> Path:
    return Path(settings.VAR_DIR) / "catalog_templates"


def _is_chinese() -> bool:
    return (get_language() or "").lower().startswith("zh")


def pick(zh: str, en: str) -> str:
    """The text in the user's language (the catalog carries both)."""
    return zh if _is_chinese() else (en or zh)


class Quantization(models.TextChoices):
    NONE = "none", _("None")
    FP8 = "fp8", "FP8"
    AWQ = "awq", "AWQ"


class BaseModelSeries(models.Model):
    """One row of seed table 2: series, type, scenarios, languages (Chinese as the seed writes them)."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=64)  # the seed's name, e.g. 通义千问2.5
    name_en = models.CharField(max_length=64)
    type_zh = models.CharField(max_length=32)
    type_en = models.CharField(max_length=64)
    scenarios_zh = models.JSONField(default=list)
    scenarios_en = models.JSONField(default=list)
    languages_zh = models.JSONField(default=list)
    languages_en = models.JSONField(default=list)
    # "|scenario:对话问答|language:中文|": filtering by one scenario or language is a
    # plain LIKE that works the same on SQLite and PostgreSQL (JSON containment doesn't).
    facets = models.CharField(max_length=512, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self):
        return self.name

    @property
    def label(self) -> str:
        return pick(self.name, self.name_en)

    @property
    def type_label(self) -> str:
        return pick(self.type_zh, self.type_en)

    @property
    def scenarios(self) -> list[str]:
        return self.scenarios_zh if _is_chinese() else self.scenarios_en

    @property
    def languages(self) -> list[str]:
        return self.languages_zh if _is_chinese() else self.languages_en


class BaseModelVersion(models.Model):
    """A concrete base model the user builds on (e.g. Qwen2.5-7B), and its weight-check template."""

    series = models.ForeignKey(BaseModelSeries, on_delete=models.PROTECT, related_name="versions")
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=64)
    published_as = models.CharField(max_length=128, blank=True)
    # Template folder relative to catalog_data/templates/ ("" = weight validation not supported).
    template = models.CharField(max_length=128, blank=True)
    quantization = models.CharField(max_length=8, choices=Quantization.choices, default=Quantization.NONE)
    # Seed 约束限制: with custom weights this base model needs 修改权重配置.
    weight_config_change = models.BooleanField(default=False)
    note_en = models.TextField(blank=True)
    note_zh = models.TextField(blank=True)
    unsupported_en = models.TextField(blank=True)
    unsupported_zh = models.TextField(blank=True)
    conversion_note_en = models.TextField(blank=True)
    conversion_note_zh = models.TextField(blank=True)
    # False for entries a newer catalog file no longer lists: kept for existing versions, not offered.
    active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["series__position", "position", "slug"]

    def __str__(self):
        return self.name

    @property
    def validation_supported(self) -> bool:
        return bool(self.template)

    @property
    def template_dir(self) -> Path | None:
        if not self.template:
            return None
        if self.template.startswith(SITE_TEMPLATE_PREFIX):
            return site_templates_dir() / self.template.removeprefix(SITE_TEMPLATE_PREFIX)
        return TEMPLATES_DIR / self.template

    @property
    def note(self) -> str:
        return pick(self.note_zh, self.note_en)

    @property
    def unsupported_note(self) -> str:
        return pick(self.unsupported_zh, self.unsupported_en)

    @property
    def conversion_note(self) -> str:
        return pick(self.conversion_note_zh, self.conversion_note_en)

    @property
    def constraint_note(self) -> str:
        """The seed's 约束限制 sentence for this base model ("" when it is not listed there)."""
        if not self.weight_config_change:
            return ""
        # The steps are the console's own page (mymodels:weight_config); templates link it after this sentence.
        if _is_chinese():
            return (
                f"选择{self.name}基础模型创建模型,且“权重设置与词表”选择“自定义权重”时,"
                "需要修改权重配置才能正常运行模型,操作步骤请参见修改权重配置。"
            )
        return _(
            "Models created from %(name)s with custom weights need their weight configuration modified "
            "(修改权重配置) before they run correctly; the steps for this family are linked below."
        ) % {"name": self.name}


class WeightSetting(models.TextChoices):
    # Seed 表1 权重设置与词表: 默认选择“自定义权重” — the only option.
    CUSTOM = "custom", _("Custom weights (自定义权重)")


class ModelStatus(models.TextChoices):
    """Seed labels: 创建中 / 创建成功 / 创建失败. Shared by models and versions."""

    CREATING = "creating", _("Creating")
    CREATED = "created", _("Created")
    FAILED = "failed", _("Failed")


STATUS_SEED_LABELS = {
    ModelStatus.CREATING: "创建中",
    ModelStatus.CREATED: "创建成功",
    ModelStatus.FAILED: "创建失败",
}
STATUS_BADGE = {
    ModelStatus.CREATING: "info",
    ModelStatus.CREATED: "success",
    ModelStatus.FAILED: "danger",
}


class MyModel(models.Model):
    """A user's model (我的模型): a name in a project, built on a base model, with up to 10 versions."""

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="my_models")
    name = models.CharField(_("model name"), max_length=64)
    description = models.CharField(_("description"), max_length=100, blank=True)
    base_version = models.ForeignKey(BaseModelVersion, on_delete=models.PROTECT, related_name="+")
    weight_setting = models.CharField(max_length=16, choices=WeightSetting.choices, default=WeightSetting.CUSTOM)
    # The last version number handed out. Only version_create raises it, under a
    # row lock; it never goes down, so numbers are never reused.
    version_counter = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="model_name_unique_in_project"),
        ]
        indexes = [models.Index(fields=["project", "-created_at", "-id"], name="mymodel_project_list")]  # issue 15

    def __str__(self):
        return self.name
