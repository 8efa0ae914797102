"""The Ray Jobs API over HTTP (httpx): what the console asks a Ray cluster's dashboard.

No Django and no ``ray`` here: the web and Celery processes talk to a Ray head only through
this client. Every call raises ``RayError`` (or a subclass) with a sentence a person can read;
``RayUnreachable`` means the head did not answer at all (down, wrong address, TLS failure),
which the console treats as "wait", never as "the job failed".

Ray's HTTP API, as used here (Ray 2.x dashboard, default port 8265):

  GET  /api/version                       {"version": "4", "ray_version": "2.60.0", ...}
  GET  /api/v0/nodes?detail=1             the cluster's nodes and their resources
  GET  /api/packages/gcs/<name>           pins an uploaded package; 404 when absent
  PUT  /api/packages/gcs/<name>           uploads a zip package (the bootstrap)
  POST /api/jobs/                         submit {"entrypoint", "submission_id", ...}
  GET  /api/jobs/                         every job the cluster ever ran (others' too)
  GET  /api/jobs/<submission_id>          one job; 404 "Job ... does not exist"
  POST /api/jobs/<submission_id>/stop     {"stopped": bool}
  DELETE /api/jobs/<submission_id>        forget a finished job
  GET  /api/jobs/<submission_id>/logs     {"logs": "<the whole log>"}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

# entrypoint_memory appeared in the Jobs API in Ray 2.8; older heads reject the field.
MIN_RAY_VERSION = (2, 8)
TERMINAL_STATUSES = ("SUCCEEDED", "FAILED", "STOPPED")


class RayError(Exception):
    """A Ray head answered, but not as the console needs (message says what happened)."""


class RayUnreachable(RayError):
    """No answer from the address: connection refused, timeout, DNS or TLS failure."""


class RayNotRay(RayError):
    """Something answered that is not a Ray dashboard."""


class RayUnsupported(RayError):
    """A Ray dashboard whose version the console does not support."""


class RayJobMissing(RayError):
    """The head does not know this submission id (never submitted, or the head restarted)."""


@dataclass(frozen=True)
class RayVersion:
    ray_version: str
    api_version: str
    session_name: str = ""


@dataclass(frozen=True)
class RayNode:
    node_id: str
    address: str
    is_head: bool
    state: str  # ALIVE / DEAD
    cpus: float
    gpus: float
    memory_bytes: int

    def as_dict(self) -> dict:
        return {
            "node_id": self.node_id,
            "address": self.address,
            "is_head": self.is_head,
            "state": self.state,
            "cpus": self.cpus,
            "gpus": self.gpus,
            "memory_bytes": self.memory_bytes,
        }


@dataclass(frozen=True)
class RayJob:
    submission_id: str
    status: str  # PENDING / RUNNING / SUCCEEDED / FAILED / STOPPED
    message: str = ""
    exit_code: int | None = None
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    error_type: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_json(cls, data: dict) -> RayJob:
        return cls(
            submission_id=data.get("submission_id") or data.get("job_id") or "",
            status=str(data.get("status") or ""),
            message=str(data.get("message") or ""),
            exit_code=data.get("driver_exit_code"),
            start_time_ms=data.get("start_time") or None,
            end_time_ms=data.get("end_time") or None,
            error_type=str(data.get("error_type") or ""),
            metadata=data.get("metadata") or {},
        )


def parse_version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def normalise_address(address: str) -> str:
    """``http(s)://host:port`` without a trailing slash; raises ValueError with the reason."""
    address = (address or "").strip().rstrip("/")
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("Use the dashboard's address with http:// or https://, such as http://ray-head:8265.")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("The address is http(s)://host:port only: no query, fragment or credentials in it.")
    return address


class RayClient:
    """One Ray head's dashboard. ``headers`` carry the administrator's optional auth."""

    def __init__(self, address: str, *, headers: dict[str, str] | None = None, timeout: float = 10.0, transport=None):
        self.address = normalise_address(address)
        self._http = httpx.Client(
            base_url=self.address,
            headers=headers or {},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- plumbing -----------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise RayUnreachable(f"The Ray head at {self.address} did not answer in time.") from None
        except httpx.HTTPError as error:
            raise RayUnreachable(f"Could not reach the Ray head at {self.address}: {_short(error)}") from None

    def _json(self, response: httpx.Response, what: str):
        if response.status_code in (502, 503, 504):
            # A proxy or load balancer in front of a head that is down.
            raise RayUnreachable(f"The Ray head at {self.address} is not answering ({response.status_code} to {what}).")
        if response.status_code in (401, 403):
            raise RayError(
                f"The Ray head at {self.address} refused {what} ({response.status_code}): check the auth header."
            )
        if response.status_code >= 400:
            raise RayError(f"The Ray head answered {response.status_code} to {what}: {_body(response)}")
        try:
            return response.json()
        except ValueError:
            raise RayNotRay(f"{self.address} answered {what} with something that is not JSON: is it a Ray dashboard?")

    # --- the cluster ----------------------------------------------------------------------------

    def version(self) -> RayVersion:
        response = self._request("GET", "/api/version")
        if response.status_code == 404:
            raise RayNotRay(f"{self.address} is not a Ray dashboard: it has no /api/version.")
        data = self._json(response, "GET /api/version")
        if not isinstance(data, dict) or "ray_version" not in data:
            raise RayNotRay(f"{self.address} answered /api/version without a ray_version: is it a Ray dashboard?")
        found = RayVersion(
            ray_version=str(data["ray_version"]),
            api_version=str(data.get("version", "")),
            session_name=str(data.get("session_name", "")),
        )
        if parse_version(found.ray_version)[:2] < MIN_RAY_VERSION:
            needed = ".".join(str(n) for n in MIN_RAY_VERSION)
            raise RayUnsupported(
                f"Ray {found.ray_version} is not supported: the console needs Ray {needed} or newer "
                "(its Jobs API must accept entrypoint_memory)."
            )
        return found

    def nodes(self) -> list[RayNode]:
        data = self._json(self._request("GET", "/api/v0/nodes", params={"detail": "1"}), "GET /api/v0/nodes")
        try:
            rows = data["data"]["result"]["result"]
        except (KeyError, TypeError):
            raise RayNotRay(f"{self.address} answered /api/v0/nodes in an unknown shape.") from None
        nodes = []
        for row in rows:
            total = row.get("resources_total") or {}
            nodes.append(
                RayNode(
                    node_id=str(row.get("node_id", "")),
                    address=str(row.get("node_ip", "")),
                    is_head=bool(row.get("is_head_node")),
                    state=str(row.get("state", "")),
                    cpus=float(total.get("CPU", 0)),
                    gpus=float(total.get("GPU", 0)),
                    memory_bytes=int(total.get("memory", 0)),
                )
            )
        return nodes

    def ensure_package(self, name: str, data: bytes) -> str:
        """Upload a zip package unless the head has it; returns its URI (``gcs://<name>``).

        The GET also pins the package for a while, so a job submitted right after finds it.
        """
        path = f"/api/packages/gcs/{name}"
        response = self._request("GET", path)
        if response.status_code == 404:
            response = self._request("PUT", path, content=data, headers={"Content-Type": "application/zip"})
            if response.status_code >= 400:
                raise RayError(
                    f"The Ray head refused the bootstrap package ({response.status_code}): {_body(response)}"
                )
        elif response.status_code >= 400:
            raise RayError(f"The Ray head answered {response.status_code} for the bootstrap package: {_body(response)}")
        return f"gcs://{name}"

    # --- jobs -----------------------------------------------------------------------------------

    def job(self, submission_id: str) -> RayJob:
        response = self._request("GET", f"/api/jobs/{submission_id}")
        if response.status_code == 404:
            raise RayJobMissing(f"The Ray head does not know job {submission_id}.")
        return RayJob.from_json(self._json(response, f"GET /api/jobs/{submission_id}"))

    def find_job(self, submission_id: str) -> RayJob | None:
        try:
            return self.job(submission_id)
        except RayJobMissing:
            return None

    def jobs(self) -> list[RayJob]:
        data = self._json(self._request("GET", "/api/jobs/"), "GET /api/jobs/")
        if not isinstance(data, list):
            raise RayNotRay(f"{self.address} answered /api/jobs/ with something that is not a list.")
        return [RayJob.from_json(row) for row in data if isinstance(row, dict) and row.get("submission_id")]

    def submit(self, *, submission_id: str, entrypoint: str, body: dict) -> RayJob:
        """Submit once: a job with this id that already exists is the one returned (never a second).

        Ray answers a duplicate submission_id with a 500 (other versions with a 400 or 409), so
        any refusal is followed by a GET: if the job exists, the earlier submission went through.
        """
        payload = {**body, "entrypoint": entrypoint, "submission_id": submission_id}
        response = self._request("POST", "/api/jobs/", json=payload)
        if response.status_code < 300:
            return self.job(submission_id)
        existing = self.find_job(submission_id)
        if existing is not None:
            return existing
        raise RayError(f"The Ray head refused the job ({response.status_code}): {_body(response)}")

    def stop(self, submission_id: str) -> bool:
        response = self._request("POST", f"/api/jobs/{submission_id}/stop")
        if response.status_code == 404:
            return False
        return bool(self._json(response, "stop").get("stopped"))

    def delete(self, submission_id: str) -> bool:
        response = self._request("DELETE", f"/api/jobs/{submission_id}")
        if response.status_code == 404:
            return False
        return bool(self._json(response, "delete").get("deleted"))

    def logs(self, submission_id: str) -> str:
        response = self._request("GET", f"/api/jobs/{submission_id}/logs")
        if response.status_code == 404:
            raise RayJobMissing(f"The Ray head does not know job {submission_id}.")
        return str(self._json(response, "logs").get("logs") or "")


def _short(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:200]


def _body(response: httpx.Response) -> str:
    text = response.text.strip()
    # Ray answers some refusals with a whole Python traceback: its last line says what happened.
    lines = [line for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else "")[:300]
