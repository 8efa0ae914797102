"""Pools backed by a Ray cluster: creating and checking them, their health, what they can hold.

A Ray pool has no console nodes: Ray owns the machines. The console keeps one ``RayCluster``
row per such pool with the dashboard's address, the interpreter its jobs run with, the cap on
concurrent jobs and what the last check found (version, nodes, reachable). Every check goes
through ``RayClient`` (httpx); ``ray`` itself is never imported here.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shlex
import time
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from console.audit.services import audit_record
from console.core.secrets import decrypt_secret, encrypt_secret
from console.core.stored_text import localize
from console.nodepools.models import BillingMode, Pool, PoolKind, RayCluster, name_validator
from console.nodepools.raycluster.client import (
    RayClient,
    RayError,
    RayNode,
    RayNotRay,
    RayUnreachable,
    RayUnsupported,
    RayVersion,
    normalise_address,
)

logger = logging.getLogger(__name__)

MAX_CONCURRENT_JOBS = 500  # the head runs out of memory at a few hundred supervisors (ray#60159)
HEADER_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
PROBE_TIMEOUT_SECONDS = 60


def client_for(cluster: RayCluster, *, timeout: float | None = None) -> RayClient:
    return RayClient(
        cluster.address,
        headers=_auth_headers(cluster.auth_header, _auth_value(cluster)),
        timeout=timeout or settings.RAY_HTTP_TIMEOUT_SECONDS,
    )


def _auth_value(cluster: RayCluster) -> str:
    try:
        return decrypt_secret(cluster.auth_value_encrypted)
    except ValueError:
        logger.error("the auth value of Ray pool %s cannot be decrypted (SECRET_KEY changed?)", cluster.pool_id)
        return ""


def _auth_headers(name: str, value: str) -> dict[str, str]:
    return {name: value} if name and value else {}


# --- checks -------------------------------------------------------------------------------------


def _clean_fields(*, address, auth_header, interpreter, console_url, max_concurrent_jobs, pending_deadline_seconds):
    """Field rules of a Ray pool; returns the cleaned values or raises ValidationError by field."""
    errors: dict[str, str] = {}
    try:
        address = normalise_address(address)
    except ValueError as error:
        # The client has no Django: its reason (English) is read back here, in the reader's language.
        errors["address"] = _("The dashboard address is not valid: %(reason)s") % {"reason": localize(str(error))}
    auth_header = (auth_header or "").strip()
    if auth_header and (len(auth_header) > 64 or not set(auth_header) <= HEADER_NAME_CHARS):
        errors["auth_header"] = _("A header name is 1–64 letters, digits or '-', such as Authorization.")
    interpreter = (interpreter or "").strip()
    if not interpreter or not os.path.isabs(interpreter) or any(ch.isspace() or ord(ch) < 32 for ch in interpreter):
        errors["interpreter"] = _(
            "Give the absolute path of the Python on the Ray nodes, such as /opt/venv/bin/python "
            "(a bare “python” may not be the one with the libraries)."
        )
    console_url = (console_url or "").strip().rstrip("/")
    parts = urlsplit(console_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        errors["console_url"] = _(
            "Give the console's address as the Ray nodes reach it, with http:// or https://, such as "
            "http://console.example:8000."
        )
    if not isinstance(max_concurrent_jobs, int) or not 1 <= max_concurrent_jobs <= MAX_CONCURRENT_JOBS:
        errors["max_concurrent_jobs"] = _(
            "Allow 1 to %(max)s concurrent jobs: Ray's head holds about 85 MB per running job."
        ) % {"max": MAX_CONCURRENT_JOBS}
    if not isinstance(pending_deadline_seconds, int) or not 10 <= pending_deadline_seconds <= 7 * 24 * 3600:
        errors["pending_deadline_seconds"] = _("The pending deadline is 10 seconds to 7 days.")
    if errors:
        raise ValidationError(errors)
    return address, auth_header, interpreter, console_url


def cluster_check(*, address: str, headers: dict[str, str]) -> tuple[RayVersion, list[RayNode]]:
    """Ask the head who it is and what it has; ValidationError on ``address`` with the reason."""
    try:
        with RayClient(address, headers=headers, timeout=settings.RAY_HTTP_TIMEOUT_SECONDS) as client:
            version = client.version()
            nodes = client.nodes()
    except RayUnsupported as error:
        raise ValidationError({"address": str(error)}, code="unsupported") from None
    except RayNotRay as error:
        raise ValidationError({"address": str(error)}, code="not_ray") from None
    except RayUnreachable as error:
        raise ValidationError({"address": str(error)}, code="unreachable") from None
    except RayError as error:
        raise ValidationError({"address": str(error)}, code="ray_error") from None
    return version, nodes


def _facts(pool: Pool, cluster: RayCluster) -> dict:
    return {
        "name": pool.name,
        "kind": pool.kind,
        "address": cluster.address,
        "auth_header": cluster.auth_header,
        "auth_value_set": bool(cluster.auth_value_encrypted),
        "interpreter": cluster.interpreter,
        "console_url": cluster.console_url,
        "max_concurrent_jobs": cluster.max_concurrent_jobs,
        "pending_deadline_seconds": cluster.pending_deadline_seconds,
    }


def _apply_check(cluster: RayCluster, version: RayVersion, nodes: list[RayNode]) -> None:
    now = timezone.now()
    cluster.reachable = True
    cluster.ray_version = version.ray_version
    cluster.session_name = version.session_name
    cluster.nodes = [n.as_dict() for n in nodes]
    cluster.message = ""
    cluster.checked_at = now
    cluster.unreachable_since = None


def ray_pool_create(
    *,
    actor,
    name: str,
    address: str,
    interpreter: str,
    console_url: str = "",
    description: str = "",
    auth_header: str = "",
    auth_value: str = "",
    max_concurrent_jobs: int = 20,
    pending_deadline_seconds: int = 600,
) -> Pool:
    """A pool of kind Ray: the head is checked first (nothing is created when it fails)."""
    name = (name or "").strip()
    errors = {}
    try:
        name_validator(name)
    except ValidationError as error:
        errors["name"] = error.messages[0]
    if not errors and Pool.objects.filter(name__iexact=name).exists():
        errors["name"] = _("A pool named “%(name)s” already exists.") % {"name": name}
    try:
        address, auth_header, interpreter, console_url = _clean_fields(
            address=address,
            auth_header=auth_header,
            interpreter=interpreter,
            console_url=console_url or settings.CONSOLE_PUBLIC_URL,
            max_concurrent_jobs=max_concurrent_jobs,
            pending_deadline_seconds=pending_deadline_seconds,
        )
    except ValidationError as error:
        errors.update({field: messages[0] for field, messages in error.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    if auth_value and not auth_header:
        auth_header = "Authorization"
    # Outside the transaction: a slow head never holds a database lock.
    version, nodes = cluster_check(address=address, headers=_auth_headers(auth_header, auth_value))
    try:
        with transaction.atomic():
            pool = Pool.objects.create(
                name=name,
                kind=PoolKind.RAY,
                description=description or "",
                # Ray owns the machines: the console bills none of them (no price, no subscription).
                billing_mode=BillingMode.PAY_PER_USE,
                hourly_price=None,
            )
            cluster = RayCluster(
                pool=pool,
                address=address,
                auth_header=auth_header,
                auth_value_encrypted=encrypt_secret(auth_value),
                interpreter=interpreter,
                console_url=console_url,
                max_concurrent_jobs=max_concurrent_jobs,
                pending_deadline_seconds=pending_deadline_seconds,
            )
            _apply_check(cluster, version, nodes)
            cluster.save()
            audit_record(actor=actor, action="pool.create", obj=pool, after=_facts(pool, cluster))
    except IntegrityError:
        raise ValidationError({"name": _("A pool named “%(name)s” already exists.") % {"name": name}}) from None
    return pool


def ray_pool_update(
    *,
    actor,
    pool: Pool,
    address: str,
    interpreter: str,
    console_url: str,
    description: str = "",
    auth_header: str = "",
    auth_value: str = "",
    clear_auth: bool = False,
    max_concurrent_jobs: int = 20,
    pending_deadline_seconds: int = 600,
) -> Pool:
    """Change a Ray pool's settings; a new address (or auth) is checked before anything is saved."""
    address, auth_header, interpreter, console_url = _clean_fields(
        address=address,
        auth_header=auth_header,
        interpreter=interpreter,
        console_url=console_url,
        max_concurrent_jobs=max_concurrent_jobs,
        pending_deadline_seconds=pending_deadline_seconds,
    )
    current = RayCluster.objects.get(pool=pool)
    # An empty secret field keeps the stored value (it is never shown back).
    value = "" if clear_auth else (auth_value or _auth_value(current))
    if value and not auth_header:
        auth_header = "Authorization"
    checked = None
    if address != current.address or auth_header != current.auth_header or auth_value or clear_auth:
        checked = cluster_check(address=address, headers=_auth_headers(auth_header, value))
    with transaction.atomic():
        locked = Pool.objects.select_for_update().get(pk=pool.pk)
        cluster = RayCluster.objects.select_for_update().get(pool=locked)
        before = _facts(locked, cluster)
        locked.description = description or ""
        locked.save(update_fields=["description"])
        cluster.address = address
        cluster.auth_header = auth_header if value else ""
        cluster.auth_value_encrypted = encrypt_secret(value)
        cluster.interpreter = interpreter
        cluster.console_url = console_url
        cluster.max_concurrent_jobs = max_concurrent_jobs
        cluster.pending_deadline_seconds = pending_deadline_seconds
        if checked is not None:
            _apply_check(cluster, *checked)
        if interpreter != current.interpreter:
            cluster.interpreter_probe = {}
        cluster.save()
        audit_record(actor=actor, action="pool.update", obj=locked, before=before, after=_facts(locked, cluster))
    return locked


# --- health (beat) ------------------------------------------------------------------------------


def ray_cluster_refresh(*, cluster_id: int) -> RayCluster | None:
    """Version and nodes of one cluster, saved; an unreachable head is marked so, with the reason."""
    cluster = RayCluster.objects.select_related("pool").filter(pk=cluster_id).first()
    if cluster is None:
        return None
    try:
        with client_for(cluster) as client:
            version = client.version()
            nodes = client.nodes()
    except RayError as error:
        mark_unreachable(cluster_id=cluster.pk, message=str(error))
    else:
        _apply_check(cluster, version, nodes)
        RayCluster.objects.filter(pk=cluster.pk).update(
            reachable=True,
            ray_version=cluster.ray_version,
            session_name=cluster.session_name,
            nodes=cluster.nodes,
            message="",
            checked_at=cluster.checked_at,
            unreachable_since=None,
        )
    cluster.refresh_from_db()
    return cluster


def ray_clusters_refresh_all() -> int:
    ids = list(RayCluster.objects.values_list("pk", flat=True))
    for cluster_id in ids:
        try:
            ray_cluster_refresh(cluster_id=cluster_id)
        except Exception:
            logger.exception("refreshing Ray cluster %s failed", cluster_id)
    return len(ids)


def mark_unreachable(*, cluster_id: int, message: str) -> None:
    now = timezone.now()
    RayCluster.objects.filter(pk=cluster_id).update(reachable=False, message=message[:2000], checked_at=now)
    RayCluster.objects.filter(pk=cluster_id, unreachable_since__isnull=True).update(unreachable_since=now)


def mark_reachable(*, cluster_id: int) -> None:
    RayCluster.objects.filter(pk=cluster_id, reachable=False).update(
        reachable=True, message="", unreachable_since=None, checked_at=timezone.now()
    )


# --- what a cluster can hold ------------------------------------------------------------------


def _needs(spec: dict) -> tuple[float, float, int]:
    return (
        float(spec.get("cpu_cores") or 0),
        float(spec.get("gpu_count") or 0),
        int(spec.get("memory_gb") or 0) * 1024**3,
    )


def flavor_never_fits(cluster: RayCluster, spec: dict) -> str | None:
    """Why no node of the cluster could ever hold one job of this flavor, or None when one can.

    Ray places a job's entrypoint on one node: its CPUs, GPUs and memory must fit a single node.
    """
    if int(spec.get("npu_count") or 0):
        return _("Ray pools run no NPU flavors.")
    nodes = cluster.alive_nodes
    if not nodes:
        return None  # nothing known yet (or the head is down): the job waits, it is not refused
    if nodes_fitting(cluster, spec):
        return None
    cpus, gpus, _memory = _needs(spec)
    biggest = max(nodes, key=lambda n: (n["gpus"], n["cpus"], n["memory_bytes"]))
    return _(
        "No node of Ray cluster %(pool)s can ever hold flavor %(flavor)s (%(cpus)s CPUs, %(gpus)s GPUs, "
        "%(memory)s GiB): its largest node has %(ncpus)s CPUs, %(ngpus)s GPUs and %(nmemory).1f GiB."
    ) % {
        "pool": cluster.pool.name,
        "flavor": spec.get("flavor_id", "?"),
        "cpus": _num(cpus),
        "gpus": _num(gpus),
        "memory": spec.get("memory_gb", 0),
        "ncpus": _num(biggest["cpus"]),
        "ngpus": _num(biggest["gpus"]),
        "nmemory": biggest["memory_bytes"] / 1024**3,
    }


def nodes_fitting(cluster: RayCluster, spec: dict) -> int:
    """How many alive nodes could each hold one job of this flavor (the seed's max_num on a Ray pool)."""
    if int(spec.get("npu_count") or 0):
        return 0
    cpus, gpus, memory = _needs(spec)
    return sum(
        1 for n in cluster.alive_nodes if n["cpus"] >= cpus and n["gpus"] >= gpus and n["memory_bytes"] >= memory
    )


def flavor_capacity(cluster: RayCluster, spec: dict) -> int:
    """How many jobs of this flavor the cluster's alive nodes hold at once (bounded by the pool's cap)."""
    cpus, gpus, memory = _needs(spec)
    total = 0
    for node in cluster.alive_nodes:
        fits = [math.inf]
        if cpus:
            fits.append(node["cpus"] // cpus)
        if gpus:
            fits.append(node["gpus"] // gpus)
        if memory:
            fits.append(node["memory_bytes"] // memory)
        count = min(fits)
        total += 0 if count == math.inf else int(count)
    return min(total, cluster.max_concurrent_jobs)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# --- the interpreter probe ----------------------------------------------------------------------

PROBE_CODE = (
    "import json, platform, sys; "
    "print('MA_PROBE ' + json.dumps({'executable': sys.executable, 'python_version': platform.python_version()}))"
)


PROBE_TASK = "console.nodepools.tasks.ray_interpreter_probe"


def ray_interpreter_probe_request(*, cluster_id: int) -> None:
    """Mark the interpreter check as pending and send it to the platform queue once committed.

    The task replaces the mark with what it found; meanwhile the pool page shows the check as
    running (and polls), instead of an old result for what may be another interpreter.
    """
    with transaction.atomic():
        cluster = RayCluster.objects.select_for_update().get(pk=cluster_id)
        cluster.interpreter_probe = {
            "pending": True,
            "requested_at": timezone.now().isoformat(),
            "interpreter": cluster.interpreter,
        }
        cluster.save(update_fields=["interpreter_probe"])
        transaction.on_commit(lambda: current_app.send_task(PROBE_TASK, args=[cluster_id], queue="platform"))


def ray_interpreter_probe(*, cluster_id: int) -> dict:
    """Run a short Ray job with the pool's interpreter and keep what it printed (or why it failed)."""
    cluster = RayCluster.objects.select_related("pool").get(pk=cluster_id)
    submission_id = f"{settings.RAY_SUBMISSION_PREFIX}probe-{cluster.pk}-{int(time.time() * 1000)}"
    result = {"ok": False, "at": timezone.now().isoformat(), "interpreter": cluster.interpreter}
    try:
        with client_for(cluster) as client:
            entrypoint = shlex.join([cluster.interpreter, "-c", PROBE_CODE])
            client.submit(submission_id=submission_id, entrypoint=entrypoint, body={"entrypoint_num_cpus": 0})
            deadline = time.monotonic() + PROBE_TIMEOUT_SECONDS
            job = client.job(submission_id)
            while not job.is_terminal and time.monotonic() < deadline:
                time.sleep(0.5)
                job = client.job(submission_id)
            logs = client.logs(submission_id)
            if not job.is_terminal:
                client.stop(submission_id)
                result["message"] = _("The probe did not finish within %(s)s s (Ray says: %(m)s)") % {
                    "s": PROBE_TIMEOUT_SECONDS,
                    "m": job.message,
                }
            else:
                client.delete(submission_id)
                line = next((ln for ln in logs.splitlines() if ln.startswith("MA_PROBE ")), "")
                if job.status == "SUCCEEDED" and line:
                    result.update(json.loads(line[len("MA_PROBE ") :]), ok=True, message="")
                else:
                    result["message"] = job.message or logs[-500:]
    except RayError as error:
        result["message"] = str(error)
    RayCluster.objects.filter(pk=cluster.pk).update(interpreter_probe=result)
    return result
