"""Node pools for site administrators: thin views over selectors (reads) and actions (writes)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from console.accounts.permissions import site_admin_required
from console.core.forms import apply_validation_error
from console.core.htmx import is_partial, redirect_after_post, render_page
from console.core.stored_text import localize
from console.nodepools import actions, selectors
from console.nodepools.billing import node_billing
from console.nodepools.forms import ConfirmForm, NodeBillingForm, PoolForm, RayPoolForm
from console.nodepools.models import Node
from console.nodepools.raycluster import services as ray_services
from console.nodepools.rules import Scope


@site_admin_required
def pool_list(request):
    return render_page(request, "nodepools/pool_list.html", {"rows": selectors.pool_list_rows()}, fragment="pool-table")


@site_admin_required
def pool_create(request):
    form = PoolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            pool = actions.pool_create(actor=request.user, **_pool_fields(form))
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Pool “%(name)s” created.") % {"name": pool.name})
            return redirect_after_post(request, "nodepools:pool_detail", pool_id=pool.pk)
    return render_page(request, "nodepools/pool_form.html", {"form": form}, fragment="pool-form")


def _pool_fields(form) -> dict:
    data = dict(form.cleaned_data)
    data["description"] = data.get("description") or ""
    return data


@site_admin_required
def ray_pool_create(request):
    form = RayPoolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            pool = ray_services.ray_pool_create(actor=request.user, **form.service_fields())
        except ValidationError as error:
            apply_validation_error(form, _read_back(error))
        else:
            # What the interpreter on the Ray nodes really is, found by a short Ray job (a few seconds).
            ray_services.ray_interpreter_probe_request(cluster_id=pool.ray.pk)
            messages.success(
                request,
                _("Ray cluster pool “%(name)s” created. Its interpreter is being checked with a short Ray job.")
                % {"name": pool.name},
            )
            return redirect_after_post(request, "nodepools:pool_detail", pool_id=pool.pk)
    return render_page(request, "nodepools/ray_pool_form.html", {"form": form}, fragment="ray-pool-form")


def _read_back(error: ValidationError) -> ValidationError:
    """The errors in the reader's language: a Ray head's reason comes from the HTTP client in English."""
    if hasattr(error, "error_dict"):
        return ValidationError(
            {field: [localize(m) for m in messages] for field, messages in error.message_dict.items()}
        )
    return ValidationError([localize(m) for m in error.messages])


def _ray_pool_edit(request, pool):
    cluster = selectors.ray_cluster_of(pool)
    form = RayPoolForm(request.POST or None, initial=RayPoolForm.initial_for(pool, cluster), cluster=cluster)
    if request.method == "POST" and form.is_valid():
        try:
            ray_services.ray_pool_update(actor=request.user, pool=pool, **form.service_fields())
        except ValidationError as error:
            apply_validation_error(form, _read_back(error))
        else:
            saved = selectors.ray_cluster_of(pool)
            if (saved.interpreter, saved.address) != (cluster.interpreter, cluster.address):
                # Another interpreter, or another cluster: what the last check found no longer holds.
                ray_services.ray_interpreter_probe_request(cluster_id=saved.pk)
            messages.success(request, _("Pool “%(name)s” updated.") % {"name": pool.name})
            return redirect_after_post(request, "nodepools:pool_detail", pool_id=pool.pk)
    return render_page(request, "nodepools/ray_pool_form.html", {"form": form, "pool": pool}, fragment="ray-pool-form")


@site_admin_required
def pool_edit(request, pool_id):
    pool = selectors.pool_get(pool_id=pool_id)
    if pool.is_ray:
        return _ray_pool_edit(request, pool)
    initial = {
        "description": pool.description,
        "billing_mode": pool.billing_mode,
        "hourly_price": pool.hourly_price,
        "grace_period_days": pool.grace_period_days,
        "subscription_months": pool.subscription_months,
    }
    form = PoolForm(request.POST or None, initial=initial, pool=pool)
    if request.method == "POST" and form.is_valid():
        try:
            actions.pool_update(actor=request.user, pool=pool, **_pool_fields(form))
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Pool “%(name)s” updated.") % {"name": pool.name})
            return redirect_after_post(request, "nodepools:pool_detail", pool_id=pool.pk)
    return render_page(request, "nodepools/pool_form.html", {"form": form, "pool": pool}, fragment="pool-form")


@site_admin_required
def pool_detail(request, pool_id):
    pool = selectors.pool_get(pool_id=pool_id)
    return _render_detail(request, pool)


def _render_detail(request, pool):
    page = selectors.pool_page(pool=pool)
    context = {"page": page, "pool": pool, "delete_form": ConfirmForm(prefix="pool")}
    if pool.is_ray:
        # A Ray pool's page polls this section: the cluster's health, nodes, limits and interpreter.
        context["ray"] = selectors.ray_panel(pool=pool, jobs=page.jobs)
        return render_page(request, "nodepools/pool_detail.html", context, fragment="ray-section")
    return render_page(request, "nodepools/pool_detail.html", context, fragment="node-section")


@require_POST
@site_admin_required
def ray_cluster_check(request, pool_id):
    """Check now: ask the head for its version and nodes (beat does it every few seconds anyway)."""
    pool = selectors.pool_get(pool_id=pool_id)
    cluster = selectors.ray_cluster_of(pool)
    cluster = ray_services.ray_cluster_refresh(cluster_id=cluster.pk)
    if is_partial(request):
        return _render_detail(request, pool)
    if cluster.reachable:
        messages.success(request, _("The Ray cluster of pool “%(name)s” answered.") % {"name": pool.name})
    else:
        messages.error(
            request,
            _("The Ray cluster of pool “%(name)s” is unreachable: %(reason)s")
            % {"name": pool.name, "reason": localize(cluster.message)},
        )
    return redirect("nodepools:pool_detail", pool_id=pool.pk)


@require_POST
@site_admin_required
def ray_interpreter_check(request, pool_id):
    """Check interpreter: a short Ray job runs the pool's interpreter (on the platform queue)."""
    pool = selectors.pool_get(pool_id=pool_id)
    cluster = selectors.ray_cluster_of(pool)
    ray_services.ray_interpreter_probe_request(cluster_id=cluster.pk)
    if is_partial(request):
        return _render_detail(request, pool)
    messages.info(request, _("The interpreter is being checked with a short Ray job."))
    return redirect("nodepools:pool_detail", pool_id=pool.pk)


@require_POST
@site_admin_required
def pool_delete(request, pool_id):
    pool = selectors.pool_get(pool_id=pool_id)
    form = ConfirmForm(request.POST, prefix="pool")
    form.is_valid()
    try:
        actions.pool_delete(actor=request.user, pool=pool, confirmation=form.cleaned_data.get("confirmation", ""))
    except ValidationError as error:
        apply_validation_error(form, error)
        if is_partial(request):
            return render(request, "nodepools/pool_detail.html#pool-delete-form", {"pool": pool, "delete_form": form})
        messages.error(request, " ".join(m for errors in form.errors.values() for m in errors))
        return redirect("nodepools:pool_detail", pool_id=pool.pk)
    messages.success(request, _("Pool “%(name)s” deleted.") % {"name": pool.name})
    return redirect_after_post(request, "nodepools:pool_list")


def _action_params(data) -> dict:
    return {
        "action": data.get("action", ""),
        "scope": data.get("scope", "") or Scope.SINGLE,
        "node_ids": data.getlist("node"),
    }


def _render_action(request, pool, *, params, form=None, error=None):
    """The preview (which nodes, which jobs stop, the billing effect), or why the action can't run."""
    preview = None
    try:
        preview = actions.action_preview(pool=pool, **params)
    except ValidationError as problem:
        error = error or " ".join(problem.messages)
    context = {
        "pool": pool,
        "preview": preview,
        "error": error,
        "form": form or ConfirmForm(),
        "params": params,
    }
    return render_page(request, "nodepools/node_action.html", context, fragment="node-action")


@site_admin_required
def node_action_preview(request, pool_id):
    pool = selectors.pool_get(pool_id=pool_id)
    return _render_action(request, pool, params=_action_params(request.GET))


@require_POST
@site_admin_required
def node_action(request, pool_id):
    pool = selectors.pool_get(pool_id=pool_id)
    params = _action_params(request.POST)
    form = ConfirmForm(request.POST)
    form.is_valid()
    try:
        nodes = actions.nodes_leave_pool(
            actor=request.user, pool=pool, confirmation=form.cleaned_data.get("confirmation", ""), **params
        )
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            apply_validation_error(form, error)
            return _render_action(request, pool, params=params, form=form)
        return _render_action(request, pool, params=params, form=form, error=" ".join(error.messages))
    messages.success(request, _done_message(params["action"], nodes))
    return redirect_after_post(request, "nodepools:pool_detail", pool_id=pool.pk)


def _done_message(action: str, nodes: list[Node]) -> str:
    names = ", ".join(n.name for n in nodes)
    count = len(nodes)
    if action == "unsubscribe":
        text = ngettext("Node %(names)s unsubscribed.", "%(count)s nodes unsubscribed: %(names)s.", count)
    elif action == "release":
        text = ngettext("Node %(names)s released.", "%(count)s nodes released: %(names)s.", count)
    else:
        text = ngettext("Node %(names)s deleted.", "%(count)s nodes deleted: %(names)s.", count)
    parts = [
        text % {"names": names, "count": count},
        ngettext(
            "It leaves the pool: its worker stops taking the pool's work and does not rejoin by itself.",
            "They leave the pool: their workers stop taking the pool's work and do not rejoin by themselves.",
            count,
        ),
    ]
    jobs = [job.name for node in nodes for job in getattr(node, "stopped_jobs", [])]
    if jobs:
        parts.append(
            ngettext(
                "Job %(jobs)s was stopped (node released by an administrator).",
                "Jobs %(jobs)s were stopped (node released by an administrator).",
                len(jobs),
            )
            % {"jobs": ", ".join(jobs)}
        )
    return " ".join(parts)


@site_admin_required
def node_billing_edit(request, pool_id, node_id):
    pool = selectors.pool_get(pool_id=pool_id)
    node = get_object_or_404(Node.objects.select_related("pool"), pk=node_id, pool=pool)
    form = NodeBillingForm(
        request.POST or None, initial={"subscription_end": node.subscription_end, "legacy": node.legacy}
    )
    if request.method == "POST" and form.is_valid():
        try:
            actions.node_billing_update(actor=request.user, node=node, **form.cleaned_data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Billing of node “%(node)s” updated.") % {"node": node.name})
            return redirect_after_post(request, "nodepools:pool_detail", pool_id=pool.pk)
    return render_page(
        request,
        "nodepools/node_billing_form.html",
        {"form": form, "pool": pool, "node": node, "billing": node_billing(node)},
        fragment="node-billing-form",
    )
