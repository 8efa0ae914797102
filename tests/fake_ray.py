"""A stand-in for a Ray head's dashboard, for tests and benchmarks that need no real cluster.

It answers the subset of the Jobs API the console uses, in the shapes Ray 2.60 answers them
(checked against a real head in tests/training/test_ray_pools_integration.py): a duplicate
submission_id gets a 500 with a traceback, an unknown job a 404 "Job ... does not exist",
``GET /api/jobs/`` every job including other users'. Jobs change only when a test says so
(``set_status``, ``append_log``): nothing runs. It counts the requests it served by route.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeRay:
    def __init__(self, *, ray_version: str = "2.60.0", cpus: float = 8, gpus: float = 0, memory_gb: float = 32):
        self.ray_version = ray_version
        self.nodes = [
            {
                "node_id": "f" * 56,
                "node_ip": "10.0.0.1",
                "is_head_node": True,
                "state": "ALIVE",
                "resources_total": {"CPU": cpus, "GPU": gpus, "memory": memory_gb * 1024**3} if gpus else
                {"CPU": cpus, "memory": memory_gb * 1024**3},
            }
        ]  # fmt: skip
        self.jobs: dict[str, dict] = {}
        self.logs: dict[str, str] = {}
        self.packages: set[str] = set()
        self.requests: Counter = Counter()
        self.headers_seen: list[dict] = []
        self.down = False  # answer nothing useful (503) while True
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

            def do_PUT(self):
                fake._handle(self, "PUT")

            def do_DELETE(self):
                fake._handle(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # --- what tests do ------------------------------------------------------------------------

    def add_job(self, submission_id: str, status: str = "RUNNING", **fields) -> dict:
        job = {
            "type": "SUBMISSION",
            "job_id": None,
            "submission_id": submission_id,
            "status": status,
            "entrypoint": fields.pop("entrypoint", "python x.py"),
            "message": fields.pop("message", ""),
            "error_type": None,
            "start_time": 1_700_000_000_000,
            "end_time": None,
            "metadata": fields.pop("metadata", {}),
            "runtime_env": {},
            "driver_exit_code": None,
        }
        job.update(fields)
        with self.lock:
            self.jobs[submission_id] = job
            self.logs.setdefault(submission_id, "")
        return job

    def set_status(self, submission_id: str, status: str, **fields) -> None:
        with self.lock:
            self.jobs[submission_id].update(status=status, **fields)

    def append_log(self, submission_id: str, text: str) -> None:
        with self.lock:
            self.logs[submission_id] = self.logs.get(submission_id, "") + text

    def forget_everything(self) -> None:
        """What a restarted head without GCS fault tolerance knows: nothing."""
        with self.lock:
            self.jobs.clear()
            self.logs.clear()

    # --- the API ------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path = handler.path.split("?")[0]
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self.lock:
            self.headers_seen.append(dict(handler.headers))
        if self.down:
            return self._send(handler, 503, "Service Unavailable", content_type="text/plain")
        route, status, payload = self._route(method, path, body)
        self.requests[route] += 1
        if isinstance(payload, str):
            return self._send(handler, status, payload, content_type="text/plain")
        return self._send(handler, status, json.dumps(payload))

    def _route(self, method: str, path: str, body: bytes):
        parts = [p for p in path.split("/") if p]
        if path == "/api/version":
            return "version", 200, {"version": "4", "ray_version": self.ray_version, "session_name": "session_fake"}
        if path == "/api/v0/nodes":
            return "nodes", 200, {"result": True, "data": {"result": {"total": len(self.nodes), "result": self.nodes}}}
        if parts[:2] == ["api", "packages"] and len(parts) == 4:
            name = parts[3]
            if method == "PUT":
                self.packages.add(name)
                return "package_put", 200, {}
            return (
                ("package_get", 200, {})
                if name in self.packages
                else ("package_get", 404, f"Package {name} does not exist")
            )
        if parts == ["api", "jobs"]:
            if method == "GET":
                with self.lock:
                    return "jobs_list", 200, list(self.jobs.values())
            request = json.loads(body or b"{}")
            submission_id = request["submission_id"]
            if submission_id in self.jobs:
                return (
                    "submit",
                    500,
                    f"Traceback (most recent call last):\nValueError: Job with submission_id {submission_id} already exists. Please use a different submission_id.",
                )
            self.add_job(submission_id, "PENDING", entrypoint=request["entrypoint"], metadata=request.get("metadata", {}),
                         message="Job has not started yet.", request=request)  # fmt: skip
            return "submit", 200, {"job_id": None, "submission_id": submission_id}
        if parts[:2] == ["api", "jobs"] and len(parts) >= 3:
            submission_id = parts[2]
            with self.lock:
                job = self.jobs.get(submission_id)
            if job is None:
                return "job_missing", 404, f"Job {submission_id} does not exist"
            if len(parts) == 3 and method == "GET":
                return "job", 200, job
            if len(parts) == 3 and method == "DELETE":
                with self.lock:
                    self.jobs.pop(submission_id, None)
                return "delete", 200, {"deleted": True}
            if parts[3] == "stop":
                running = job["status"] in ("PENDING", "RUNNING")
                if running:
                    self.set_status(submission_id, "STOPPED", message="Job was intentionally stopped.")
                return "stop", 200, {"stopped": running}
            if parts[3] == "logs":
                return "logs", 200, {"logs": self.logs.get(submission_id, "")}
        return "unknown", 404, "Not Found"

    @staticmethod
    def _send(handler, status: int, text: str, *, content_type: str = "application/json") -> None:
        data = text.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
