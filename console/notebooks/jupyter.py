"""Talking to a notebook's Jupyter server on its node: through its unix socket (or its port).

Used by the runner (is it up? is anything busy?) and by tests. Plain http.client: no extra
library in the runner, and a unix socket needs only a different connect.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from datetime import datetime


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 2.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


class JupyterError(Exception):
    pass


@dataclass(frozen=True)
class Activity:
    last_activity: datetime | None
    kernels_busy: int
    connections: int
    kernels: int


class JupyterClient:
    def __init__(self, *, base_url: str, token: str, socket_path: str = "", host: str = "", port: int | None = None):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.token = token
        self.socket_path, self.host, self.port = socket_path, host, port

    def _connection(self, timeout: float):
        if self.socket_path:
            return UnixHTTPConnection(self.socket_path, timeout=timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method: str, path: str, body: dict | None = None, *, timeout: float = 2.0):
        connection = self._connection(timeout)
        try:
            headers = {"Authorization": f"token {self.token}", "Host": "localhost"}
            payload = None
            if body is not None:
                payload = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            connection.request(method, self.base_url + path.lstrip("/"), body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except OSError as error:
            raise JupyterError(str(error) or error.__class__.__name__) from None
        finally:
            connection.close()
        if response.status >= 400:
            raise JupyterError(f"{method} {path}: HTTP {response.status}")
        return json.loads(data) if data else None

    def status(self, *, timeout: float = 2.0) -> dict:
        # no_track_activity: the console's own look must not count as the user's activity.
        return self.request("GET", "api/status?no_track_activity=1", timeout=timeout)

    def activity(self) -> Activity:
        status = self.status()
        kernels = self.request("GET", "api/kernels?no_track_activity=1") or []
        times = [parse_time(status.get("last_activity"))]
        times += [parse_time(k.get("last_activity")) for k in kernels]
        known = [t for t in times if t is not None]
        return Activity(
            last_activity=max(known) if known else None,
            kernels_busy=sum(1 for k in kernels if k.get("execution_state") == "busy"),
            connections=int(status.get("connections") or 0),  # already the sum over kernels
            kernels=len(kernels),
        )


def parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
