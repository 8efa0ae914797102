"""Talking to an instance's engine on its node: GET /health and POST /drain, through its unix socket.

Used by the runner's heartbeat (is it ready? how much is outstanding?) and by tests. Plain
http.client: no extra library in the runner, and a unix socket needs only a different connect.
"""

from __future__ import annotations

import http.client
import json
import socket


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 2.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


class EngineError(Exception):
    pass


class EngineClient:
    def __init__(self, *, socket_path: str = "", host: str = "", port: int | None = None):
        self.socket_path, self.host, self.port = socket_path, host, port

    def request(self, method: str, path: str, body: dict | None = None, *, timeout: float = 2.0) -> dict:
        if self.socket_path:
            connection = UnixHTTPConnection(self.socket_path, timeout=timeout)
        else:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            headers = {"Host": "localhost"}
            payload = None
            if body is not None:
                payload = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise EngineError(f"{method} {path}: {error}") from None
        finally:
            connection.close()
        try:
            parsed = json.loads(data or b"{}")
        except ValueError:
            raise EngineError(f"{method} {path}: HTTP {response.status}, not JSON") from None
        if response.status >= 500 and not isinstance(parsed, dict):
            raise EngineError(f"{method} {path}: HTTP {response.status}")
        return parsed if isinstance(parsed, dict) else {}

    def health(self, *, timeout: float = 1.0) -> dict:
        return self.request("GET", "/health", timeout=timeout)

    def drain(self, *, timeout: float = 2.0) -> dict:
        return self.request("POST", "/drain", {}, timeout=timeout)
