"""Benchmark of the job list at 100 / 10,000 / 100,000 jobs in one project (issue 15). See bench/LISTS.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ma_bench_lists REDIS_URL=redis://127.0.0.1:6379/12 \\
      CONSOLE_VAR_DIR=$PWD/var/bench-lists .venv/bin/python -m bench.lists [--sizes 100,10000,100000] [--runs 30]

The console runs as a real server (gunicorn, one worker, on a free 127.0.0.1 port) against the
benchmark's own database; every timed request is a new httpx client, so a new TCP connection
(and the session/token check) each time, as a browser tab or a script would. Jobs are seeded with
``bench.seed.seed_jobs``, one project per size ("lists-100", "lists-10000", "lists-100000": 110,100 jobs in
one table), then ``VACUUM ANALYZE`` (what autovacuum does on its own shortly after). The sizes are timed
interleaved, request by request, so a change of load on the (shared) machine hits them alike. Prints p50/p95 per request and size, and
t(largest)/t(smallest) of the p50 (target ≤ 1.5); ``--explain`` also prints the plans at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.training import ensure_database, percentile

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-lists-password-15"
PER_PAGE = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "console.settings", "DEBUG": "0"}
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "console.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--threads", "1", "--log-level", "warning"],  # fmt: skip
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
            return server
        except httpx.HTTPError:
            if server.poll() is not None:
                raise SystemExit("the console did not start") from None
            time.sleep(0.3)
    raise SystemExit("the console did not answer within 60 s")


def requests_for(project, total: int, needle: str) -> list[tuple[str, str, str, dict]]:
    """(label, method, path, options) of each timed request."""
    pid = project.project_id
    jobs = f"/projects/{pid}/training/jobs/"
    hx = {"HX-Request": "true"}
    last = max(1, math.ceil(total / PER_PAGE))
    api = f"/v2/{pid}/training-job-searches"
    return [
        ("job list page", "GET", jobs, {}),
        ("its partial (HTMX)", "GET", jobs, {"headers": hx}),
        ("page 2", "GET", jobs, {"headers": hx, "params": {"page": 2}}),
        ("last page", "GET", jobs, {"headers": hx, "params": {"page": last}}),
        ("name search (1 match per seeding)", "GET", jobs, {"headers": hx, "params": {"q": needle}}),
        ("name search, common word (~19%)", "GET", jobs, {"headers": hx, "params": {"q": "resnet"}}),
        ("phase filter (Running)", "GET", jobs, {"headers": hx, "params": {"phase": "Running"}}),
        ("API search limit 10", "POST", api, {"json": {"limit": 10, "offset": 0}}),
        ("API search limit 50", "POST", api, {"json": {"limit": 50, "offset": 0}}),
    ]


def time_requests(base: str, plan, runs: int) -> dict[tuple[int, str], list[float]]:
    """plan: [(size, (label, method, path, options), cookies, token)] → {(size, label): [ms, ...]}."""
    import httpx

    timings: dict[tuple[int, str], list[float]] = {(size, request[0]): [] for size, request, _c, _t in plan}
    for round_ in range(runs + 3):  # the first 3 rounds warm the server up and are not counted
        for size, (label, method, path, options), cookies, token in plan:
            api = path.startswith("/v2/")
            headers = {**options.get("headers", {}), **({"X-Auth-Token": token} if api else {})}
            started = time.perf_counter()
            # A new client per request: a new TCP connection, as a browser tab or a script opens.
            with httpx.Client(base_url=base, cookies=None if api else cookies) as client:
                response = client.request(method, path, headers=headers, params=options.get("params"),
                                          json=options.get("json"))  # fmt: skip
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{label} at {size}: HTTP {response.status_code} {response.text[:300]}")
            if round_ >= 3:
                timings[size, label].append(elapsed)
    return timings


def sign_in(base: str, user, project) -> tuple[dict, str]:
    """A session cookie for the pages and an IAM token for the API, made once (reused by every request)."""
    import httpx
    from django.test import Client

    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    cookies = {name: morsel.value for name, morsel in client.cookies.items()}
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user.username, "password": PASSWORD, "domain": {"name": project.organization.name}}}},
        "scope": {"project": {"name": project.name}}}}  # fmt: skip
    response = httpx.post(f"{base}/v3/auth/tokens", json=body)
    if response.status_code != 201:
        raise SystemExit(f"token: HTTP {response.status_code} {response.text[:300]}")
    return cookies, response.headers["X-Subject-Token"]


def vacuum() -> None:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE training_trainingjob")
            cursor.execute("VACUUM ANALYZE training_trainingtask")
            cursor.execute("VACUUM ANALYZE training_jobevent")


def explain(project, user, total: int, needle: str) -> str:
    from django.db import connection

    from console.training import selectors

    jobs = selectors.job_list(user=user, project=project)
    last = (max(1, math.ceil(total / PER_PAGE)) - 1) * PER_PAGE
    queries = {
        "count": jobs.order_by().values("pk"),
        # The back half of a list is read backward (core.paging.deferred_slice): the last page's ids.
        "last page ids": jobs.values("pk").reverse()[0 : total - last],
        "last page ids, forward (what OFFSET would cost)": jobs.values("pk")[last : last + PER_PAGE],
        "search count": selectors.job_list(user=user, project=project, search=needle).order_by().values("pk"),
        "common-word search count": selectors.job_list(user=user, project=project, search="resnet")
        .order_by()
        .values("pk"),
        "phase count": selectors.job_list(user=user, project=project, phase="Running").order_by().values("pk"),
    }
    out = []
    with connection.cursor() as cursor:
        for label, queryset in queries.items():
            sql, params = queryset.query.sql_with_params()
            if "count" in label:
                sql = f"SELECT COUNT(*) FROM ({sql}) AS rows"
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", params)
            out.append(f"-- {label}\n" + "\n".join(row[0] for row in cursor.fetchall()))
    return "\n\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,10000,100000")
    parser.add_argument("--runs", type=int, default=30, help="timed requests per row and size")
    parser.add_argument("--explain", action="store_true", help="print the plans of the list's queries at the end")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    ensure_database()
    import django

    django.setup()
    # After django.setup(): a process entry point.
    from django.core.management import call_command

    from bench.seed import NAME_NEEDLE, bench_project, seed_jobs
    from console.training.models import JobEvent, TrainingJob, TrainingTask

    call_command("migrate", verbosity=0)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    projects = {}
    for size in sizes:
        project, user = bench_project(f"lists-{size}", "bench-lists")
        projects[size] = project
        # A re-run starts from an empty project (raw deletes: the ORM's cascade would walk 100k rows).
        for model, key in ((JobEvent, "job__project"), (TrainingTask, "job__project"), (TrainingJob, "project")):
            model.objects.filter(**{key: project})._raw_delete(model.objects.db)
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    for size in sizes:
        seeded = seed_jobs(projects[size], size, user=user, seed=size)
        print(f"{size:>7} jobs: {seeded['jobs']} jobs, {seeded['tasks']} tasks in {seeded['seconds']} s", flush=True)
    vacuum()

    port = free_port()
    server = start_server(port)
    base = f"http://127.0.0.1:{port}"
    try:
        plan = []
        for size in sizes:
            cookies, token = sign_in(base, user, projects[size])
            plan += [(size, request, cookies, token) for request in requests_for(projects[size], size, NAME_NEEDLE)]
        # Sizes interleaved request by request: a change of load on the machine hits every size alike.
        results = time_requests(base, plan, args.runs)
    finally:
        server.terminate()
        server.wait(10)

    small, large = sizes[0], sizes[-1]
    labels = [label for label, *_ in requests_for(projects[small], small, NAME_NEEDLE)]
    header = "| request | " + " | ".join(f"{s:,} p50 / p95 (ms)" for s in sizes) + f" | t({large:,})/t({small:,}) |"
    print()
    print(header)
    print("|" + "---|" * (len(sizes) + 2))
    for label in labels:
        cells = [f"{percentile(results[s, label], 0.5):.1f} / {percentile(results[s, label], 0.95):.1f}" for s in sizes]
        ratio = percentile(results[large, label], 0.5) / percentile(results[small, label], 0.5)
        print(f"| {label} | " + " | ".join(cells) + f" | {ratio:.2f} |")
    if args.explain:
        print()
        print(explain(projects[large], user, large, NAME_NEEDLE))
    print(json.dumps({"sizes": sizes, "runs": args.runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
