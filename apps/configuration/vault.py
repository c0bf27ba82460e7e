"""Vault (or OpenBao) through hvac: token, AppRole and Kubernetes login, token renewal, KV v2, retries.

Errors are typed so callers can tell "Vault is down" (serve the cache, report degraded) from "Vault said no" (a
policy problem that must be fixed) and never see a raw stack of ``requests`` exceptions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import hvac
import requests
import structlog
from hvac import exceptions as hvac_exc

logger = structlog.get_logger(__name__)
T = TypeVar("T")

AUTH_METHODS = ("token", "approle", "kubernetes")
DEFAULT_K8S_JWT = "/var/run/secrets/kubernetes.io/serviceaccount/token"


class VaultError(Exception):
    """Base of every Vault failure."""


class VaultUnavailable(VaultError):
    """Vault could not be reached or answered with a server error, after retries."""


class VaultPermissionDenied(VaultError):
    """Vault refused the operation: the token's policies do not allow it."""


class VaultAuthError(VaultError):
    """Login failed (bad credentials, unknown role), no credentials are configured, or the token expired."""


class VaultConflict(VaultError):
    """A check-and-set write lost a race: the secret changed since it was read."""


@dataclass(frozen=True)
class VaultSettings:
    """How to reach and log in to Vault. Built from the VAULT_* environment variables (see README)."""

    addr: str
    auth_method: str = "token"
    token: str | None = None
    role_id: str | None = None
    secret_id: str | None = None
    kubernetes_role: str | None = None
    kubernetes_jwt_path: str = DEFAULT_K8S_JWT
    approle_mount: str = "approle"
    kubernetes_mount: str = "kubernetes"
    kv_mount: str = "secret"
    namespace: str | None = None
    timeout: float = 5.0
    verify: bool | str = True

    def __post_init__(self) -> None:
        if self.auth_method not in AUTH_METHODS:
            raise VaultAuthError(
                f"VAULT_AUTH_METHOD must be one of {', '.join(AUTH_METHODS)}, not {self.auth_method!r}"
            )

    @classmethod
    def from_mapping(cls, env: dict[str, Any]) -> VaultSettings | None:
        """From settings.VAULT (itself read from the environment); None when no VAULT_ADDR is set."""
        if not env.get("addr"):
            return None
        return cls(**{k: v for k, v in env.items() if v not in (None, "")})


class VaultClient:
    """A logged-in Vault client that renews its token before expiry and retries transient failures."""

    def __init__(
        self,
        settings: VaultSettings,
        *,
        retries: int = 3,
        backoff: float = 0.2,
        renew_when_remaining: float = 1 / 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.retries = retries
        self.backoff = backoff
        self.renew_when_remaining = renew_when_remaining
        self._sleep = sleep
        self._client = hvac.Client(
            url=settings.addr, namespace=settings.namespace, timeout=settings.timeout, verify=settings.verify
        )
        self._token_ttl = 0.0  # seconds the token was granted for at login/renewal; 0 = never expires
        self._token_expires_at: float | None = None  # monotonic time; None = not logged in
        self._renewable = False

    # --- authentication ----------------------------------------------------------------------------------------
    def login(self) -> None:
        """Log in with the configured method and remember when the token expires."""
        s = self.settings
        try:
            if s.auth_method == "token":
                if not s.token:
                    raise VaultAuthError("VAULT_AUTH_METHOD=token needs VAULT_TOKEN")
                self._client.token = s.token
                info = self._retrying("token lookup", lambda: self._client.auth.token.lookup_self())["data"]
                self._remember_ttl(float(info.get("ttl") or 0), bool(info.get("renewable")))
            elif s.auth_method == "approle":
                if not (s.role_id and s.secret_id):
                    raise VaultAuthError("VAULT_AUTH_METHOD=approle needs VAULT_ROLE_ID and VAULT_SECRET_ID")
                auth = self._retrying(
                    "approle login",
                    lambda: self._client.auth.approle.login(
                        role_id=s.role_id, secret_id=s.secret_id, mount_point=s.approle_mount
                    ),
                )["auth"]
                self._remember_ttl(float(auth.get("lease_duration") or 0), bool(auth.get("renewable")))
            else:
                if not s.kubernetes_role:
                    raise VaultAuthError("VAULT_AUTH_METHOD=kubernetes needs VAULT_KUBERNETES_ROLE")
                jwt = Path(s.kubernetes_jwt_path).read_text().strip()
                auth = self._retrying(
                    "kubernetes login",
                    lambda: self._client.auth.kubernetes.login(
                        role=s.kubernetes_role, jwt=jwt, mount_point=s.kubernetes_mount
                    ),
                )["auth"]
                self._remember_ttl(float(auth.get("lease_duration") or 0), bool(auth.get("renewable")))
        except (hvac_exc.InvalidRequest, hvac_exc.Forbidden, hvac_exc.Unauthorized) as exc:
            raise VaultAuthError(f"Vault {s.auth_method} login failed: {_first_error(exc)}") from exc
        except OSError as exc:
            raise VaultAuthError(f"cannot read the service-account token: {exc.strerror}") from exc
        logger.info("vault_login", method=s.auth_method, ttl_seconds=self._token_ttl)

    def _remember_ttl(self, ttl: float, renewable: bool) -> None:
        self._token_ttl = ttl
        self._token_expires_at = time.monotonic() + ttl if ttl > 0 else float("inf")
        self._renewable = renewable

    def token_remaining(self) -> float | None:
        """Seconds left on the current token (inf when it never expires), None when not logged in."""
        if self._token_expires_at is None:
            return None
        return self._token_expires_at - time.monotonic()

    def ensure_token(self) -> None:
        """Log in if needed; renew the token when less than a third of its lifetime is left.

        AppRole and Kubernetes identities log in again when renewal is refused or the token is not renewable; a
        plain token that cannot be renewed is used until it expires, then is a VaultAuthError.
        """
        remaining = self.token_remaining()
        if remaining is None:
            self.login()
            return
        if remaining == float("inf") or remaining > self._token_ttl * self.renew_when_remaining:
            return
        relogin = self.settings.auth_method != "token"
        if self._renewable:
            try:
                auth = self._retrying("token renewal", lambda: self._client.auth.token.renew_self())["auth"]
            except (hvac_exc.InvalidRequest, hvac_exc.Forbidden) as exc:
                logger.warning("vault_token_renewal_refused", error=_first_error(exc))
                self._renewable = False
            else:
                self._remember_ttl(float(auth.get("lease_duration") or 0), bool(auth.get("renewable")))
                logger.info("vault_token_renewed", ttl_seconds=self._token_ttl)
                return
        if relogin:
            self.login()
        elif remaining <= 0:
            raise VaultAuthError("the Vault token expired and cannot be renewed: give the portal a new VAULT_TOKEN")

    # --- KV version 2 -------------------------------------------------------------------------------------------
    def read(self, path: str, version: int | None = None) -> tuple[dict[str, Any], int] | None:
        """The data and version of a secret (the latest unless ``version``), or None when it does not exist."""
        try:
            response = self._call(
                f"read {path}",
                lambda: self._client.secrets.kv.v2.read_secret_version(
                    path=path, version=version, mount_point=self.settings.kv_mount, raise_on_deleted_version=True
                ),
            )
        except hvac_exc.InvalidPath:
            return None
        return dict(response["data"]["data"] or {}), int(response["data"]["metadata"]["version"])

    def write(self, path: str, data: dict[str, Any], *, cas: int | None = None) -> int:
        """Write a new version of a secret (check-and-set against ``cas`` when given); returns the new version."""
        try:
            response = self._call(
                f"write {path}",
                lambda: self._client.secrets.kv.v2.create_or_update_secret(
                    path=path, secret=data, cas=cas, mount_point=self.settings.kv_mount
                ),
            )
        except hvac_exc.InvalidRequest as exc:
            if "check-and-set" in str(exc):
                raise VaultConflict(f"{path} changed since version {cas} was read; read it again and retry") from exc
            raise VaultError(f"Vault refused write {path}: {_first_error(exc)}") from exc
        return int(response["data"]["version"])

    def list(self, path: str) -> list[str]:
        """Names under a folder (folders end with '/'); empty when the folder does not exist."""
        try:
            response = self._call(
                f"list {path}",
                lambda: self._client.secrets.kv.v2.list_secrets(path=path, mount_point=self.settings.kv_mount),
            )
        except hvac_exc.InvalidPath:
            return []
        return list(response["data"]["keys"])

    def versions(self, path: str) -> dict[int, dict[str, Any]]:
        """Metadata of every version of a secret (created time, deletion, destroyed)."""
        try:
            response = self._call(
                f"read metadata {path}",
                lambda: self._client.secrets.kv.v2.read_secret_metadata(path=path, mount_point=self.settings.kv_mount),
            )
        except hvac_exc.InvalidPath:
            return {}
        return {int(v): meta for v, meta in response["data"]["versions"].items()}

    def walk(self, root: str) -> dict[str, tuple[dict[str, Any], int]]:
        """Every secret below ``root`` (recursively), as {path: (data, version)}."""
        found: dict[str, tuple[dict[str, Any], int]] = {}
        pending = [root.rstrip("/")]
        while pending:
            folder = pending.pop()
            for name in self.list(folder):
                path = f"{folder}/{name.rstrip('/')}"
                if name.endswith("/"):
                    pending.append(path)
                    continue
                secret = self.read(path)
                if secret is not None:
                    found[path] = secret
        return found

    # --- plumbing -----------------------------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run a Vault call with a valid token; log in again once if the token was rejected."""
        self.ensure_token()
        try:
            return self._retrying(what, fn)
        except (hvac_exc.Forbidden, hvac_exc.Unauthorized):
            # Vault answers 403 both for a policy denial and for a revoked or expired token: log in again (which
            # fails with VaultAuthError when the credentials themselves are bad) and retry once.
            self.login()
        try:
            return self._retrying(what, fn)
        except hvac_exc.Forbidden as exc:
            raise VaultPermissionDenied(
                f"Vault denied {what}: the token's policies do not allow it ({_first_error(exc)})"
            ) from exc

    def _retrying(self, what: str, fn: Callable[[], T]) -> T:
        delay = self.backoff
        for attempt in range(1, self.retries + 1):
            try:
                return fn()
            except (
                requests.ConnectionError,
                requests.Timeout,
                hvac_exc.VaultDown,
                hvac_exc.InternalServerError,
                hvac_exc.BadGateway,
            ) as exc:
                if attempt == self.retries:
                    raise VaultUnavailable(
                        f"Vault unreachable during {what} after {attempt} attempts: {type(exc).__name__}"
                    ) from exc
                logger.warning("vault_retry", operation=what, attempt=attempt, error=type(exc).__name__)
                self._sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        return "; ".join(map(str, errors))
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
