"""The seed's notebook flow (创建开发环境实例) against a ModelArts Console, with httpx.

    token → images → create notebook → details until RUNNING → renew the lease → stop → start → delete

Run:

    python examples/notebook_flow.py --endpoint http://127.0.0.1:8000 \\
        --user alice --password '…' --domain default --project demo

Every value can also come from the environment: MA_ENDPOINT, MA_USER, MA_PASSWORD, MA_DOMAIN,
MA_PROJECT. Exit status 0 when every step succeeded.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid

import httpx

HOUR_MS = 3_600_000


def fail(response: httpx.Response, what: str) -> None:
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


def expect(response: httpx.Response, status: int, what: str) -> dict:
    if response.status_code != status:
        fail(response, what)
    return response.json() if response.content else {}


def wait_status(client, path: str, wanted: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        notebook = expect(client.get(path), 200, "Querying the notebook")
        if notebook["status"] == wanted:
            return notebook
        if notebook["status"] in ("CREATE_FAILED", "START_FAILED", "ERROR", "DELETED") or time.monotonic() > deadline:
            print(f"notebook is {notebook['status']}: {notebook.get('fail_reason')}", file=sys.stderr)
            sys.exit(3)
        time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default=env("MA_ENDPOINT", "http://127.0.0.1:8000"))
    parser.add_argument("--user", default=env("MA_USER"), required=not env("MA_USER"))
    parser.add_argument("--password", default=env("MA_PASSWORD"), required=not env("MA_PASSWORD"))
    parser.add_argument("--domain", default=env("MA_DOMAIN", "default"), help="the organisation (IAM domain)")
    parser.add_argument("--project", default=env("MA_PROJECT"), required=not env("MA_PROJECT"))
    parser.add_argument("--flavor", default="modelarts.vm.cpu.2u")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for each state")
    args = parser.parse_args(argv)

    client = httpx.Client(base_url=args.endpoint.rstrip("/"), timeout=30)

    # 1. 获取Token
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
    if response.status_code != 201:
        fail(response, "Getting a token")
    client.headers["X-Auth-Token"] = response.headers["X-Subject-Token"]
    project_id = response.json()["token"]["project"]["id"]
    print(f"token for project {args.project} ({project_id})")

    # 2. 查询支持的镜像列表
    images = expect(client.get(f"/v1/{project_id}/images", params={"limit": 10}), 200, "Listing images")
    if not images["data"]:
        print("No image: no node of the pool has jupyterlab installed.", file=sys.stderr)
        return 2
    image = images["data"][0]
    print(f"image {image['name']} ({image['id']}) on {', '.join(image['nodes'])}")

    # 3. 创建Notebook实例
    body = {
        "name": f"notebook-{uuid.uuid4().hex[:6]}",
        "description": "created by the notebook flow example",
        "flavor": args.flavor,
        "image_id": image["id"],
        "volume": {"category": "EFS", "ownership": "MANAGED", "capacity": 5},
        "lease": {"duration": HOUR_MS, "type": "TIMING"},
    }
    notebook = expect(client.post(f"/v1/{project_id}/notebooks", json=body), 201, "Creating the notebook")
    path = f"/v1/{project_id}/notebooks/{notebook['id']}"
    print(f"notebook {notebook['name']} ({notebook['id']}): {notebook['status']}")

    # 4. 查询Notebook实例详情
    notebook = wait_status(client, path, "RUNNING", args.timeout)
    print(f"notebook RUNNING on {notebook['node']}, open it at {notebook['url']}")

    # 5. Notebook时长续约
    lease = expect(client.patch(f"{path}/lease", json={"duration": 2 * HOUR_MS, "type": "TIMING"}), 200, "Renewing")
    remaining = expect(client.get(f"{path}/lease"), 200, "Querying the lease")["remaining"]
    print(f"lease renewed: {lease['duration']} ms, {remaining} ms left")

    # 6. 停止Notebook实例
    expect(client.post(f"{path}/stop"), 200, "Stopping")
    wait_status(client, path, "STOPPED", args.timeout)
    print("notebook STOPPED")

    # 7. 启动Notebook实例
    expect(client.post(f"{path}/start", params={"duration": HOUR_MS}), 200, "Starting")
    wait_status(client, path, "RUNNING", args.timeout)
    print("notebook RUNNING again")

    # 8. 删除Notebook实例
    expect(client.delete(path), 200, "Deleting")
    deadline = time.monotonic() + args.timeout
    while client.get(path).status_code != 404:
        if time.monotonic() > deadline:
            print("the notebook was not deleted in time", file=sys.stderr)
            return 3
        time.sleep(1)
    print("notebook deleted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
