"""What can run: flavors (公共规格) and engines (AI预置框架), and which nodes fit them."""

from __future__ import annotations

import logging
import os

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from console.audit.services import audit_record
from console.nodepools.models import Node, Pool, RayCluster
from console.nodepools.raycluster.services import nodes_fitting
from console.training.engines import EngineProbeError, current_os_user, identity_for, probe_interpreter
from console.training.models import Algorithm, Engine, EngineSource, Flavor, FlavorType, NodeEngine, TrainingJob
from console.training.phases import ACTIVE_PHASES

logger = logging.getLogger(__name__)

# The seed's two flavors first, then the ones a team would expect beside them.
DEFAULT_FLAVORS = [
    {"flavor_id": "modelarts.vm.cpu.2u", "flavor_name": "Computing CPU(2U) instance", "cpu_cores": 2, "memory_gb": 8},
    {"flavor_id": "modelarts.vm.cpu.4u", "flavor_name": "Computing CPU(4U) instance", "cpu_cores": 4, "memory_gb": 16},
    {"flavor_id": "modelarts.vm.cpu.8u", "flavor_name": "Computing CPU(8U) instance", "cpu_cores": 8, "memory_gb": 32},
    {
        "flavor_id": "modelarts.vm.gpu.t4",
        "flavor_name": "Computing GPU(T4) instance",
        "flavor_type": FlavorType.GPU,
        "cpu_cores": 8,
        "memory_gb": 32,
        "gpu_count": 1,
        "gpu_type": "T4",
    },
]


def flavor_defaults_ensure(*, stdout=None) -> int:
    """Set-up step: create the default flavors that are missing (administrators' edits are kept)."""
    created = 0
    for position, spec in enumerate(DEFAULT_FLAVORS):
        _flavor, was_created = Flavor.objects.get_or_create(
            flavor_id=spec["flavor_id"],
            defaults={**spec, "disk_gb": 50, "billing_code": spec["flavor_id"], "position": position},
        )
        created += was_created
    if stdout is not None and created:
        stdout.write(f"Training: {created} default flavor(s) created.")
    return created


# --- which nodes fit ---------------------------------------------------------------------


def _arch_of(node_arch: str) -> str:
    machine = (node_arch or "").lower()
    if machine in ("x86", "x86_64", "amd64", "i686", "i386"):
        return "x86"
    if machine in ("arm", "arm64", "aarch64"):
        return "arm"
    return machine


def node_fits(node: Node, flavor: Flavor | dict) -> bool:
    """Can the node hold one task of this flavor (cores, memory, disk, GPUs, architecture)?"""
    spec = flavor if isinstance(flavor, dict) else flavor.snapshot()
    return (
        node.cpu_cores >= spec["cpu_cores"]
        and node.memory_bytes >= spec["memory_gb"] * 1024**3
        and node.disk_bytes >= spec.get("disk_gb", 0) * 1024**3
        and node.gpu_count >= spec.get("gpu_count", 0)
        and spec.get("npu_count", 0) == 0  # no NPU detection on these nodes
        and _arch_of(node.cpu_arch) == spec.get("cpu_arch", "x86")
    )


def why_node_does_not_fit(node: Node, spec: dict) -> str:
    if node.cpu_cores < spec["cpu_cores"]:
        return _("%(cores)s CPU cores") % {"cores": node.cpu_cores}
    if node.memory_bytes < spec["memory_gb"] * 1024**3:
        return _("%(gb).1f GiB memory") % {"gb": node.memory_bytes / 1024**3}
    if node.disk_bytes < spec.get("disk_gb", 0) * 1024**3:
        return _("%(gb).0f GiB disk") % {"gb": node.disk_bytes / 1024**3}
    if node.gpu_count < spec.get("gpu_count", 0):
        return _("%(n)s GPUs") % {"n": node.gpu_count}
    return _("a %(arch)s CPU") % {"arch": _arch_of(node.cpu_arch) or "?"}


def live_nodes(pool: Pool | None):
    nodes = Node.objects.live()
    if pool is not None:
        nodes = nodes.filter(pool=pool)
    return nodes


def flavor_max_num(flavor: Flavor, *, pool: Pool | None, engine: Engine | None = None, nodes=None) -> int:
    """Seed ``flavor_info.max_num``: how many nodes one job of this flavor can use (live nodes that fit)."""
    if pool is not None and pool.is_ray:
        # Ray's nodes, as the cluster last reported them: how many could hold one job of this flavor.
        cluster = RayCluster.objects.filter(pool=pool).first()
        return nodes_fitting(cluster, flavor.snapshot()) if cluster is not None else 0
    if nodes is None:
        nodes = list(live_nodes(pool))
    engine_nodes = None
    if engine is not None:
        engine_nodes = set(NodeEngine.objects.filter(engine=engine).values_list("node_id", flat=True))
    return sum(1 for node in nodes if node_fits(node, flavor) and (engine_nodes is None or node.pk in engine_nodes))


def flavors_with_max_num(*, pool: Pool | None, flavor_type: str | None = None, enabled_only: bool = True):
    """Flavors (filtered by type) each carrying ``.max_num`` for the pool (all pools when None)."""
    flavors = Flavor.objects.all()
    if enabled_only:
        flavors = flavors.filter(enabled=True)
    if flavor_type:
        flavors = flavors.filter(flavor_type=flavor_type)
    flavors = list(flavors)
    nodes = list(live_nodes(pool))
    for flavor in flavors:
        flavor.max_num = flavor_max_num(flavor, pool=pool, nodes=nodes)
    return flavors


# --- flavors (site administrators) --------------------------------------------------------

FLAVOR_FIELDS = (
    "flavor_name",
    "flavor_type",
    "cpu_arch",
    "cpu_cores",
    "memory_gb",
    "disk_gb",
    "gpu_count",
    "gpu_type",
    "npu_count",
    "billing_code",
    "billing_unit_num",
    "enabled",
)


@transaction.atomic
def flavor_create(*, actor, flavor_id: str, **fields) -> Flavor:
    flavor = Flavor(flavor_id=(flavor_id or "").strip(), **{k: v for k, v in fields.items() if k in FLAVOR_FIELDS})
    if not flavor.billing_code:
        flavor.billing_code = flavor.flavor_id
    flavor.full_clean()
    try:
        with transaction.atomic():
            flavor.save()
    except IntegrityError:
        raise ValidationError({"flavor_id": _("A flavor with this ID already exists.")}, code="flavor_exists") from None
    audit_record(actor=actor, action="flavor.create", obj=flavor, after=flavor.snapshot())
    return flavor


@transaction.atomic
def flavor_update(*, actor, flavor: Flavor, **fields) -> Flavor:
    before = flavor.snapshot()
    for key, value in fields.items():
        if key in FLAVOR_FIELDS:
            setattr(flavor, key, value)
    flavor.full_clean()
    flavor.save()
    audit_record(actor=actor, action="flavor.update", obj=flavor, before=before, after=flavor.snapshot())
    return flavor


@transaction.atomic
def flavor_delete(*, actor, flavor: Flavor) -> None:
    # Running jobs keep a snapshot, but a waiting job still needs the flavor to be scheduled.
    if TrainingJob.objects.filter(flavor=flavor, phase__in=ACTIVE_PHASES).exists():
        raise ValidationError(
            _("Flavor %(flavor)s is used by a job that has not finished; stop the job or wait for it to end first.")
            % {"flavor": flavor.flavor_id},
            code="flavor_in_use",
        )
    audit_record(actor=actor, action="flavor.delete", obj=flavor, before=flavor.snapshot())
    flavor.delete()


# --- engines ---------------------------------------------------------------------------


def engine_for(*, engine_id: str = "", engine_name: str = "", engine_version: str = "") -> Engine | None:
    """The seed's two ways of naming an engine: engine_id, or engine_name + engine_version."""
    engines = Engine.objects.filter(enabled=True)
    if engine_id:
        return engines.filter(engine_id=engine_id).first()
    if engine_version:
        query = Q(engine_version=engine_version) | Q(engine_id=engine_version)
        if engine_name:
            query &= Q(engine_name__iexact=engine_name)
        return engines.filter(query).first()
    return None


@transaction.atomic
def engines_sync_for_node(*, node: Node, identities: list[dict]) -> list[Engine]:
    """Record which engines a node can run (what its worker found); engines not found there are unlinked."""
    engines = []
    for identity in identities:
        engine, _created = Engine.objects.get_or_create(
            engine_id=identity["engine_id"],
            defaults={
                "engine_name": identity["engine_name"],
                "engine_version": identity["engine_id"],
                "framework_version": identity.get("framework_version", ""),
                "python_version": identity.get("python_version", ""),
                "source": EngineSource.DETECTED,
            },
        )
        # What the node found is the truth about the engine: the OS user its processes run as, and
        # the versions (an administrator-registered engine learns them here when it is not local).
        found = {
            "run_user": (identity.get("run_user") or "")[:32],
            "framework_version": identity.get("framework_version", "")[:32],
            "python_version": identity.get("python_version", "")[:16],
        }
        changed = {key: value for key, value in found.items() if value and getattr(engine, key) != value}
        if changed:
            Engine.objects.filter(pk=engine.pk).update(**changed)
        NodeEngine.objects.update_or_create(node=node, engine=engine, defaults={"python_path": identity["python_path"]})
        engines.append(engine)
    NodeEngine.objects.filter(node=node).exclude(engine__in=engines).delete()
    return engines


def admin_engine_paths() -> list[str]:
    """Interpreters administrators registered: every node looks for them when it registers."""
    return list(Engine.objects.exclude(python_path="").values_list("python_path", flat=True).distinct())


MAX_ENGINE_TAGS = 20
TAG_KEY_MAX = 36
TAG_VALUE_MAX = 43


def engine_tags_parse(text: str) -> list[dict]:
    """Tags as an administrator types them, one ``key=value`` a line, into the API's
    [{"key", "value"}]; a ValidationError on the ``tags`` field names the line and the rule."""
    tags, seen = [], set()
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ValidationError(
                {"tags": [_("Line %(n)d: write a tag as key=value.") % {"n": number}]}, code="tag_format"
            )
        if len(key) > TAG_KEY_MAX or len(value) > TAG_VALUE_MAX:
            raise ValidationError(
                {"tags": [_("Line %(n)d: a tag key has at most %(k)d characters and a value at most %(v)d.")
                          % {"n": number, "k": TAG_KEY_MAX, "v": TAG_VALUE_MAX}]},
                code="tag_length",
            )  # fmt: skip
        if key in seen:
            raise ValidationError(
                {"tags": [_("Line %(n)d: the key %(key)s is already used.") % {"n": number, "key": key}]},
                code="tag_duplicate",
            )
        seen.add(key)
        tags.append({"key": key, "value": value})
    if len(tags) > MAX_ENGINE_TAGS:
        raise ValidationError(
            {"tags": [_("An engine has at most %(max)d tags.") % {"max": MAX_ENGINE_TAGS}]}, code="tag_count"
        )
    return tags


def engine_tags_text(tags) -> str:
    return "\n".join(f"{tag.get('key', '')}={tag.get('value', '')}" for tag in tags or [])


@transaction.atomic
def engine_set_tags(*, actor, engine: Engine, tags: str) -> Engine:
    """Set an engine's tags (shown in the API's engine bodies) from ``key=value`` lines."""
    parsed = engine_tags_parse(tags)
    before = {"tags": engine.tags}
    engine.tags = parsed
    engine.save(update_fields=["tags"])
    audit_record(actor=actor, action="engine.update", obj=engine, before=before, after={"tags": parsed})
    return engine


@transaction.atomic
def engine_create(*, actor, python_path: str, engine_name: str = "", engine_id: str = "", tags: str = "") -> Engine:
    """Register a virtualenv's interpreter as an engine.

    If the interpreter is on this machine it is asked what it has (the id is then
    derived the seed's way); otherwise the administrator names the engine, and
    each node links it when it finds the same path.
    """
    parsed_tags = engine_tags_parse(tags)
    python_path = (python_path or "").strip()
    if not python_path or not os.path.isabs(python_path) or "\x00" in python_path:
        raise ValidationError(
            {"python_path": _("Enter the absolute path of a Python interpreter, such as /opt/venvs/torch/bin/python.")}
        )
    identity = None
    if os.path.exists(python_path):
        try:
            identity = identity_for(probe_interpreter(python_path), python_path=python_path)
        except EngineProbeError as error:
            raise ValidationError({"python_path": str(error)}) from None
    engine_id = (engine_id or "").strip() or (identity.engine_id if identity else "")
    engine_name = (engine_name or "").strip() or (identity.engine_name if identity else "")
    if not engine_id or not engine_name:
        raise ValidationError(
            {
                "engine_id": _(
                    "This interpreter is not on the console's machine, so it cannot be asked what it runs: "
                    "enter the engine name and ID yourself."
                )
            }
        )
    if Engine.objects.filter(engine_id=engine_id).exists():
        raise ValidationError(
            {"engine_id": _("Engine %(id)s is already registered.") % {"id": engine_id}}, code="engine_exists"
        )
    engine = Engine.objects.create(
        engine_id=engine_id[:128],
        engine_name=engine_name[:64],
        engine_version=engine_id[:128],
        framework_version=identity.framework_version if identity else "",
        python_version=identity.python_version if identity else "",
        python_path=python_path,
        source=EngineSource.ADMIN,
        # Probed here: the console's machine runs it as this user; a node that has it reports its own.
        run_user=current_os_user()[:32] if identity else "",
        tags=parsed_tags,
    )
    audit_record(
        actor=actor,
        action="engine.create",
        obj=engine,
        after={"engine_id": engine.engine_id, "python_path": python_path},
    )
    return engine


@transaction.atomic
def engine_set_enabled(*, actor, engine: Engine, enabled: bool) -> Engine:
    before = {"enabled": engine.enabled}
    engine.enabled = enabled
    engine.save(update_fields=["enabled"])
    audit_record(actor=actor, action="engine.update", obj=engine, before=before, after={"enabled": enabled})
    return engine


@transaction.atomic
def engine_delete(*, actor, engine: Engine) -> None:
    if Algorithm.objects.filter(engine=engine).exists():
        raise ValidationError(
            _("Engine %(id)s is used by algorithms; change or delete them first.") % {"id": engine.engine_id},
            code="engine_in_use",
        )
    audit_record(actor=actor, action="engine.delete", obj=engine, before={"engine_id": engine.engine_id})
    engine.delete()
