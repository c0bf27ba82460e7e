"""A small Kubernetes API client over HTTP(S) for remediation actions.

It authenticates with the pod's service-account token, read from its file on every call because the kubelet rotates
it, verifies the API server with the cluster CA, and turns every failure into a ``KubeError`` carrying the status code
and the API's own ``Status.message``. The token never appears in logs, errors or results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import structlog

from apps.configuration.services import config_get

logger = structlog.get_logger(__name__)

STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"
USER_AGENT = "ecap-portal-remediation"
MAX_MESSAGE = 300


class KubeError(Exception):
    """A call that did not succeed: ``status`` is the HTTP status (0 when no answer came), ``message`` says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class KubeClient:
    """Where the API server is and how to authenticate; built from configuration on every use."""

    base_url: str
    token_file: Path
    ca_file: Path
    timeout: float

    @classmethod
    def from_config(cls) -> KubeClient:
        """The client the configuration describes (re-read each time, so changes apply without a restart)."""
        return cls(
            base_url=str(config_get("remediation.kubernetes_api_url")).rstrip("/"),
            token_file=Path(config_get("remediation.kubernetes_token_file")),
            ca_file=Path(config_get("remediation.kubernetes_ca_file")),
            timeout=float(config_get("remediation.kubernetes_timeout_seconds")),
        )

    def _token(self) -> str:
        try:
            token = self.token_file.read_text().strip()
        except OSError:
            raise KubeError(0, f"the service-account token file {self.token_file} cannot be read") from None
        if not token:
            raise KubeError(0, f"the service-account token file {self.token_file} is empty")
        return token

    def _verify(self) -> str | bool:
        # Verification is never switched off: without the cluster CA file the system CAs must trust the server.
        return str(self.ca_file) if self.ca_file.is_file() else True

    def request(
        self, method: str, path: str, *, body: Any = None, content_type: str = "application/json"
    ) -> dict[str, Any]:
        """Call the API and return the decoded JSON answer; raises KubeError on any failure."""
        headers = {
            "Authorization": f"Bearer {self._token()}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body, separators=(",", ":")).encode()
        try:
            response = requests.request(
                method,
                self.base_url + path,
                headers=headers,
                data=data,
                timeout=self.timeout,
                verify=self._verify(),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            logger.warning("kubernetes_unreachable", method=method, path=path, error=type(exc).__name__)
            raise KubeError(0, f"the Kubernetes API did not answer ({type(exc).__name__})") from None
        logger.info("kubernetes_call", method=method, path=path, status=response.status_code)
        if response.status_code >= 300:
            raise KubeError(response.status_code, _status_message(response))
        try:
            answer = response.json()
        except ValueError:
            raise KubeError(
                response.status_code, "the Kubernetes API answered with something that is not JSON"
            ) from None
        return answer if isinstance(answer, dict) else {}


def _status_message(response: requests.Response) -> str:
    """The ``message`` of the Kubernetes ``Status`` object in an error answer, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:MAX_MESSAGE]
    text = response.text.strip()
    return (text[:MAX_MESSAGE] if text else response.reason or "no message")[:MAX_MESSAGE]
