"""The seed's training-job flow against a ModelArts Console, with httpx.

    token → flavors → engines → algorithm → job → status until terminal → logs URL → metrics → delete

The request bodies are the seed's own examples; only the endpoint, the names,
the paths and the flavor and engine ids the console lists change. Run:

    python examples/api_flow.py --endpoint http://127.0.0.1:8000 \\
        --user alice --password '…' --domain default --project demo \\
        --bucket demo-1a2b3c

It expects the seed's prerequisites (前提条件) in the bucket: the boot file
test-pytorch.py in pytorch/fast_example/code/cpu/ (examples/pytorch_gloo has
one) and training data in pytorch/fast_example/data/. Every value can also come
from the environment: MA_ENDPOINT, MA_USER, MA_PASSWORD, MA_DOMAIN, MA_PROJECT,
MA_BUCKET. Exit status 0 when the job Completed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid

import httpx

TERMINAL = ("Completed", "Failed", "Terminated", "Abnormal")


def fail(response: httpx.Response, what: str) -> None:
    """Stop with the console's error_code / error_msg (and the request id to quote)."""
    try:
        body = response.json()
    except ValueError:
        body = {"error_msg": response.text[:500]}
    print(
        f"{what} failed: HTTP {response.status_code} {body.get('error_code', '')} {body.get('error_msg', '')} "
        f"(X-Request-Id {response.headers.get('X-Request-Id', '?')})",
        file=sys.stderr,
    )
    sys.exit(2)


def expect(response: httpx.Response, status: int, what: str) -> httpx.Response:
    if response.status_code != status:
        fail(response, what)
    return response


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default=env("MA_ENDPOINT", "http://127.0.0.1:8000"))
    parser.add_argument("--user", default=env("MA_USER"), required=not env("MA_USER"))
    parser.add_argument("--password", default=env("MA_PASSWORD"), required=not env("MA_PASSWORD"))
    parser.add_argument("--domain", default=env("MA_DOMAIN", "default"), help="the organisation (IAM domain)")
    parser.add_argument("--project", default=env("MA_PROJECT"), required=not env("MA_PROJECT"))
    parser.add_argument("--bucket", default=env("MA_BUCKET"), required=not env("MA_BUCKET"))
    parser.add_argument("--flavor", default="", help="a flavor_id; default: the first CPU flavor a node can run")
    parser.add_argument("--engine-name", default="PyTorch")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the job to end")
    args = parser.parse_args(argv)

    client = httpx.Client(base_url=args.endpoint.rstrip("/"), timeout=30)

    # 1. 调用认证鉴权接口获取用户的Token
    response = client.post(
        "/v3/auth/tokens",
        json={
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": args.user, "password": args.password, "domain": {"name": args.domain}}
                    },
                },
                "scope": {"project": {"name": args.project}},
            }
        },
    )
    expect(response, 201, "Getting a token")
    token = response.headers["X-Subject-Token"]
    project_id = response.json()["token"]["project"]["id"]
    client.headers["X-Auth-Token"] = token
    print(f"token for project {args.project} ({project_id}), expires {response.json()['token']['expires_at']}")

    # 2. 获取训练作业支持的公共规格
    flavors = expect(
        client.get(f"/v2/{project_id}/training-job-flavors", params={"flavor_type": "CPU"}), 200, "Listing flavors"
    ).json()
    if args.flavor:
        flavor = next((f for f in flavors["flavors"] if f["flavor_id"] == args.flavor), None)
    else:
        flavor = next((f for f in flavors["flavors"] if f["flavor_info"]["max_num"] >= 1), None)
    if flavor is None:
        print(
            "No usable CPU flavor: "
            + ", ".join(f"{f['flavor_id']} (max_num {f['flavor_info']['max_num']})" for f in flavors["flavors"]),
            file=sys.stderr,
        )
        return 2
    print(f"flavor {flavor['flavor_id']}: {flavor['flavor_name']}, max_num {flavor['flavor_info']['max_num']}")

    # 3. 获取训练作业支持的AI预置框架
    engines = expect(client.get(f"/v2/{project_id}/job/training-job-engines"), 200, "Listing engines").json()
    engine = next((e for e in engines["items"] if e["engine_name"] == args.engine_name), None)
    if engine is None:
        print(
            f"No {args.engine_name} engine; the console lists: {[e['engine_id'] for e in engines['items']]}",
            file=sys.stderr,
        )
        return 2
    print(f"engine {engine['engine_name']} {engine['engine_version']}")

    # 4. 创建算法
    base = f"/{args.bucket}/pytorch/fast_example"
    suffix = uuid.uuid4().hex[:6]
    response = client.post(
        f"/v2/{project_id}/algorithms",
        json={
            "metadata": {"name": f"test-pytorch-cpu-{suffix}", "description": "test pytorch job in cpu in mode gloo"},
            "job_config": {
                "boot_file": f"{base}/code/cpu/test-pytorch.py",
                "code_dir": f"{base}/code/cpu/",
                "engine": {"engine_name": engine["engine_name"], "engine_version": engine["engine_version"]},
                "inputs": [{"name": "data_url", "description": "数据来源1"}],
                "outputs": [{"name": "train_url", "description": "输出数据1"}],
                "parameters": [
                    {
                        "name": "dist",
                        "description": "",
                        "value": "False",
                        "constraint": {
                            "editable": True,
                            "required": False,
                            "sensitive": False,
                            "type": "Boolean",
                            "valid_range": [],
                            "valid_type": "None",
                        },
                    },
                    {
                        "name": "world_size",
                        "description": "",
                        "value": "1",
                        "constraint": {
                            "editable": True,
                            "required": False,
                            "sensitive": False,
                            "type": "Integer",
                            "valid_range": [],
                            "valid_type": "None",
                        },
                    },
                ],
                "parameters_customization": True,
            },
            "resource_requirements": [],
        },
    )
    algorithm_id = expect(response, 200, "Creating the algorithm").json()["metadata"]["id"]
    print(f"algorithm {algorithm_id}")

    # 5. 创建训练作业
    response = client.post(
        f"/v2/{project_id}/training-jobs",
        json={
            "kind": "job",
            "metadata": {"name": f"test-pytorch-cpu01-{suffix}", "description": "test pytorch work cpu in mode gloo"},
            "algorithm": {
                "id": algorithm_id,
                "parameters": [{"name": "dist", "value": "False"}, {"name": "world_size", "value": "1"}],
                "inputs": [{"name": "data_url", "remote": {"obs": {"obs_url": f"{base}/data/"}}}],
                "outputs": [{"name": "train_url", "remote": {"obs": {"obs_url": f"{base}/outputs/"}}}],
            },
            "spec": {
                "resource": {"flavor_id": flavor["flavor_id"], "node_count": 1},
                "log_export_path": {"obs_url": f"{base}/log/"},
            },
        },
    )
    job = expect(response, 201, "Creating the training job").json()
    job_id = job["metadata"]["id"]
    print(f"training job {job_id}: {job['status']['phase']}")

    # 6. 查询训练作业详情, until the job ends
    deadline = time.monotonic() + args.timeout
    phase = job["status"]["phase"]
    while phase not in TERMINAL:
        if time.monotonic() > deadline:
            print(f"The job is still {phase} after {args.timeout:.0f} s; stopping it.", file=sys.stderr)
            client.post(f"/v2/{project_id}/training-jobs/{job_id}/actions", json={"action_type": "terminate"})
            break
        time.sleep(2)
        job = expect(client.get(f"/v2/{project_id}/training-jobs/{job_id}"), 200, "Reading the job").json()
        if job["status"]["phase"] != phase:
            phase = job["status"]["phase"]
            print(f"  {phase} ({job['status']['secondary_phase']}) {job['status'].get('reason', '')}".rstrip())
    print(f"job ended {phase} after {job['status']['duration'] / 1000:.1f} s")

    # 7. 查询训练作业指定任务的日志(OBS链接): a temporary link, opened without the token
    task = job["status"]["tasks"][0]
    response = client.get(
        f"/v2/{project_id}/training-jobs/{job_id}/tasks/{task}/logs/url", headers={"Content-Type": "text/plain"}
    )
    obs_url = expect(response, 200, "Getting the log link").json()["obs_url"]
    log = httpx.get(obs_url, timeout=30)
    if log.status_code != 200:
        fail(log, "Opening the log link")
    lines = log.text.splitlines()
    print(f"log ({len(lines)} lines) at {obs_url.split('?')[0]}:")
    for line in lines[-5:]:
        print(f"  | {line}")

    # 8. 查询训练作业指定任务的运行指标
    metrics = expect(
        client.get(f"/v2/{project_id}/training-jobs/{job_id}/metrics/{task}"), 200, "Reading metrics"
    ).json()
    for series in metrics["metrics"]:
        known = [v for v in series["value"] if v != -1]
        print(f"  {series['metric']}: {len(series['value'])} samples, peak {max(known) if known else -1}")

    # 9. 删除训练作业
    expect(client.delete(f"/v2/{project_id}/training-jobs/{job_id}"), 202, "Deleting the job")
    print("job deleted")
    return 0 if phase == "Completed" else 1


if __name__ == "__main__":
    sys.exit(main())
