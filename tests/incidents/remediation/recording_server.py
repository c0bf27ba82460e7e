"""A local HTTP server that records every request it receives and answers like a small Kubernetes API server
(deployments and their scale subresource) or like a webhook receiver."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Deployment:
    """What the fake API server knows about one deployment."""

    replicas: int = 3
    generation: int = 1


@dataclass
class RecordingServer:
    """``http://127.0.0.1:<port>``; ``received`` lists the requests, ``fail`` forces answers, ``delay`` slows them."""

    deployments: dict[str, Deployment] = field(default_factory=dict)
    fail: dict[tuple[str, str], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    webhook_status: int = 200
    token_file: Path | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def record(self, request: Received) -> None:
        with self._lock:
            self.received.append(request)

    def requests(self, method: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if method is None or r.method == method]

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """The fake API's answer to one request."""
        if (method, path) in self.fail:
            return self.fail[(method, path)]
        if path.startswith("/hook"):
            return self.webhook_status, {"ok": self.webhook_status < 300}
        parts = path.strip("/").split("/")
        # /apis/apps/v1/namespaces/<ns>/deployments/<name>[/scale]
        if len(parts) not in (7, 8) or parts[:3] != ["apis", "apps", "v1"] or parts[5] != "deployments":
            return 404, _status(404, f"the server could not find the requested resource ({path})")
        key = f"{parts[4]}/{parts[6]}"
        deployment = self.deployments.get(key)
        if deployment is None:
            return 404, _status(404, f'deployments.apps "{parts[6]}" not found')
        if len(parts) == 8 and parts[7] == "scale":
            if method == "PATCH":
                deployment.replicas = int(json.loads(body)["spec"]["replicas"])
            return 200, {"kind": "Scale", "spec": {"replicas": deployment.replicas}}
        if method == "PATCH":
            deployment.generation += 1
        return 200, {
            "kind": "Deployment",
            "metadata": {"name": parts[6], "namespace": parts[4], "generation": deployment.generation},
            "spec": {"replicas": deployment.replicas},
        }


def _status(code: int, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code}


def _handler(server: RecordingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            server.record(Received(self.command, self.path, dict(self.headers.items()), body))
            time.sleep(server.delay.get(self.command, 0))
            status, answer = server.answer(self.command, self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
