"""Vault against a real OpenBao dev server: KV v2, AppRole, token renewal, Kubernetes login, the Vault configuration
layer (cache while Vault is down, readiness, staleness metric), change polling and writing the Fernet keyring."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.test import Client
from django.urls import reverse
from prometheus_client import REGISTRY

from apps.common.health import Degraded
from apps.configuration.health import check_vault
from apps.configuration.layers import DefaultsLayer, VaultLayer
from apps.configuration.models import ConfigChange, ConfigVersion
from apps.configuration.rotation import keyring_write
from apps.configuration.services import config_get, get_store, secret_get, vault_changes_poll
from apps.configuration.store import ConfigStore
from apps.configuration.vault import (
    VaultAuthError,
    VaultClient,
    VaultConflict,
    VaultPermissionDenied,
    VaultSettings,
    VaultUnavailable,
)
from tests.configuration.vault_server import BaoServer, bao_server, free_port  # noqa: F401

pytestmark = pytest.mark.slow  # every test runs against a real OpenBao server

APP = "ecap/test/app"
SECRETS = "ecap/test/secrets"
READ_ONLY_POLICY = """
path "secret/data/ecap/test/*" { capabilities = ["read", "list"] }
path "secret/metadata/ecap/test/*" { capabilities = ["read", "list"] }
"""


# --- helpers ------------------------------------------------------------------------------------------------------


def root_client(server: BaoServer, **kwargs: Any) -> VaultClient:
    """A VaultClient logged in with the root token; small backoff so an outage is noticed quickly."""
    return VaultClient(VaultSettings(addr=server.addr, token=server.root_token), retries=2, backoff=0.05, **kwargs)


def root_write(server: BaoServer, path: str, data: dict[str, Any]) -> int:
    response = server.root.secrets.kv.v2.create_or_update_secret(path=path, secret=data)
    return int(response["data"]["version"])


def root_read(server: BaoServer, path: str) -> dict[str, Any]:
    return server.root.secrets.kv.v2.read_secret_version(path=path, raise_on_deleted_version=True)["data"]["data"]


def create_approle(server: BaoServer) -> tuple[str, str]:
    """An AppRole whose tokens may only read and list ``secret/ecap/test/*``; returns (role_id, secret_id)."""
    root = server.root
    root.sys.enable_auth_method("approle")
    root.sys.create_or_update_policy(name="ecap-test-read", policy=READ_ONLY_POLICY)
    root.auth.approle.create_or_update_approle("portal", token_policies=["ecap-test-read"], token_ttl="10m")
    role_id = root.auth.approle.read_role_id("portal")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("portal")["data"]["secret_id"]
    return role_id, secret_id


def token_ttl(server: BaoServer, token: str) -> int:
    return int(server.root.auth.token.lookup(token)["data"]["ttl"])


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


def config_version() -> int:
    return ConfigVersion.objects.filter(pk=1).values_list("version", flat=True).first() or 0


@pytest.fixture
def vault_store(
    bao_server: BaoServer,  # noqa: F811
    use_config_store: Callable[..., ConfigStore],
) -> tuple[ConfigStore, VaultLayer]:
    """This process's configuration: declared defaults under the Vault layer of environment ``test``."""
    layer = VaultLayer(root_client(bao_server), "test")
    return use_config_store([DefaultsLayer(), layer]), layer


# --- KV version 2 -------------------------------------------------------------------------------------------------


def test_write_then_read_returns_the_data_and_version_one(bao_server: BaoServer) -> None:  # noqa: F811
    client = root_client(bao_server)

    version = client.write(APP, {"maintenance_banner": "hello"})

    assert version == 1
    assert client.read(APP) == ({"maintenance_banner": "hello"}, 1)
    assert root_read(bao_server, APP) == {"maintenance_banner": "hello"}


def test_second_write_makes_version_two_and_the_first_version_stays_readable(
    bao_server: BaoServer,  # noqa: F811
) -> None:
    client = root_client(bao_server)
    client.write(APP, {"maintenance_banner": "first"})

    version = client.write(APP, {"maintenance_banner": "second"})

    assert version == 2
    assert client.read(APP) == ({"maintenance_banner": "second"}, 2)
    assert client.read(APP, version=1) == ({"maintenance_banner": "first"}, 1)
    versions = client.versions(APP)
    assert sorted(versions) == [1, 2]
    assert all(meta["created_time"] and not meta["destroyed"] for meta in versions.values())


def test_list_and_walk_find_nested_secrets_below_the_root(bao_server: BaoServer) -> None:  # noqa: F811
    root_write(bao_server, "ecap/test/app", {"maintenance_banner": "a"})
    root_write(bao_server, "ecap/test/team/a", {"x": "1"})
    root_write(bao_server, "ecap/test/team/deeper/b", {"y": "2"})
    root_write(bao_server, "ecap/other/app", {"maintenance_banner": "not ours"})
    client = root_client(bao_server)

    assert sorted(client.list("ecap/test")) == ["app", "team/"]
    assert client.walk("ecap/test") == {
        "ecap/test/app": ({"maintenance_banner": "a"}, 1),
        "ecap/test/team/a": ({"x": "1"}, 1),
        "ecap/test/team/deeper/b": ({"y": "2"}, 1),
    }


def test_missing_secret_reads_as_none_and_missing_folder_lists_empty(bao_server: BaoServer) -> None:  # noqa: F811
    client = root_client(bao_server)

    assert client.read("ecap/test/nothing-here") is None
    assert client.list("ecap/test/no-folder") == []
    assert client.versions("ecap/test/nothing-here") == {}
    assert client.walk("ecap/test") == {}


def test_soft_deleted_latest_version_reads_as_none(bao_server: BaoServer) -> None:  # noqa: F811
    client = root_client(bao_server)
    client.write(APP, {"maintenance_banner": "gone soon"})
    bao_server.root.secrets.kv.v2.delete_latest_version_of_secret(path=APP)

    assert client.read(APP) is None
    assert client.versions(APP)[1]["deletion_time"]


def test_check_and_set_write_against_a_stale_version_is_refused_and_changes_nothing(
    bao_server: BaoServer,  # noqa: F811
) -> None:
    client = root_client(bao_server)
    client.write(APP, {"maintenance_banner": "one"})
    client.write(APP, {"maintenance_banner": "two"}, cas=1)

    with pytest.raises(VaultConflict, match="changed since version 1 was read"):
        client.write(APP, {"maintenance_banner": "lost update"}, cas=1)

    assert client.read(APP) == ({"maintenance_banner": "two"}, 2)


def test_check_and_set_zero_refuses_to_overwrite_an_existing_secret(bao_server: BaoServer) -> None:  # noqa: F811
    client = root_client(bao_server)
    assert client.write(APP, {"maintenance_banner": "created"}, cas=0) == 1

    with pytest.raises(VaultConflict, match="changed since version 0 was read"):
        client.write(APP, {"maintenance_banner": "again"}, cas=0)

    assert client.read(APP) == ({"maintenance_banner": "created"}, 1)


# --- AppRole ------------------------------------------------------------------------------------------------------


def test_approle_client_reads_a_secret_its_policy_allows(bao_server: BaoServer) -> None:  # noqa: F811
    root_write(bao_server, APP, {"maintenance_banner": "from root"})
    root_write(bao_server, "ecap/test/team/a", {"x": "1"})
    role_id, secret_id = create_approle(bao_server)
    client = VaultClient(
        VaultSettings(bao_server.addr, auth_method="approle", role_id=role_id, secret_id=secret_id),
        retries=2,
        backoff=0.05,
    )

    assert client.read(APP) == ({"maintenance_banner": "from root"}, 1)
    assert client.walk("ecap/test") == {
        APP: ({"maintenance_banner": "from root"}, 1),
        "ecap/test/team/a": ({"x": "1"}, 1),
    }
    remaining = client.token_remaining()
    assert remaining is not None
    assert 0 < remaining <= 600


def test_approle_write_outside_its_policy_raises_permission_denied_naming_the_operation(
    bao_server: BaoServer,  # noqa: F811
) -> None:
    root_write(bao_server, APP, {"maintenance_banner": "from root"})
    role_id, secret_id = create_approle(bao_server)
    client = VaultClient(
        VaultSettings(bao_server.addr, auth_method="approle", role_id=role_id, secret_id=secret_id),
        retries=2,
        backoff=0.05,
    )

    with pytest.raises(VaultPermissionDenied, match=r"write ecap/test/app.*policies") as denied:
        client.write(APP, {"maintenance_banner": "from the portal"})

    assert "permission denied" in str(denied.value)
    assert root_read(bao_server, APP) == {"maintenance_banner": "from root"}


def test_approle_login_with_a_wrong_secret_id_raises_auth_error_naming_approle(
    bao_server: BaoServer,  # noqa: F811
) -> None:
    role_id, _ = create_approle(bao_server)
    client = VaultClient(
        VaultSettings(bao_server.addr, auth_method="approle", role_id=role_id, secret_id="not-the-secret-id"),
        retries=2,
        backoff=0.05,
    )

    with pytest.raises(VaultAuthError, match="approle login failed"):
        client.login()

    assert client.token_remaining() is None


def test_approle_client_logs_in_again_when_its_token_was_revoked(bao_server: BaoServer) -> None:  # noqa: F811
    root_write(bao_server, APP, {"maintenance_banner": "still readable"})
    role_id, secret_id = create_approle(bao_server)
    client = VaultClient(
        VaultSettings(bao_server.addr, auth_method="approle", role_id=role_id, secret_id=secret_id),
        retries=2,
        backoff=0.05,
    )
    client.login()
    root = bao_server.root
    for accessor in root.auth.token.list_accessors()["data"]["keys"]:
        info = root.auth.token.lookup_accessor(accessor)["data"]
        if info["display_name"] == "approle":
            root.auth.token.revoke_accessor(accessor)

    assert client.read(APP) == ({"maintenance_banner": "still readable"}, 1)


# --- token login and renewal --------------------------------------------------------------------------------------


def test_ensure_token_renews_only_when_renewal_is_due(bao_server: BaoServer) -> None:  # noqa: F811
    token = bao_server.root.auth.token.create(policies=["default"], ttl="30s", explicit_max_ttl="1h", renewable=True)[
        "auth"
    ]["client_token"]
    client = VaultClient(VaultSettings(bao_server.addr, token=token), retries=2, backoff=0.05)
    client.login()
    ttl_at_login = token_ttl(bao_server, token)
    assert 25 <= ttl_at_login <= 30
    time.sleep(2.1)

    client.ensure_token()  # 28 of 30 seconds left: more than a third, nothing to do
    ttl_without_renewal = token_ttl(bao_server, token)
    remaining_before_renewal = client.token_remaining()
    client.renew_when_remaining = 1.0  # any elapsed time now makes renewal due
    client.ensure_token()

    assert ttl_without_renewal < ttl_at_login
    assert token_ttl(bao_server, token) > ttl_without_renewal + 1
    remaining_after_renewal = client.token_remaining()
    assert remaining_before_renewal is not None
    assert remaining_after_renewal is not None
    assert remaining_after_renewal > remaining_before_renewal + 1


def test_root_token_never_expires_so_ensure_token_never_renews(bao_server: BaoServer) -> None:  # noqa: F811
    client = root_client(bao_server, renew_when_remaining=1.0)
    client.login()

    client.ensure_token()

    assert client.token_remaining() == float("inf")


def test_login_with_a_revoked_token_raises_auth_error(bao_server: BaoServer) -> None:  # noqa: F811
    token = bao_server.root.auth.token.create(policies=["default"], ttl="30s")["auth"]["client_token"]
    bao_server.root.auth.token.revoke(token)
    client = VaultClient(VaultSettings(bao_server.addr, token=token), retries=2, backoff=0.05)

    with pytest.raises(VaultAuthError, match="token login failed: permission denied"):
        client.login()


def test_login_with_token_method_and_no_token_says_what_is_missing(bao_server: BaoServer) -> None:  # noqa: F811
    client = VaultClient(VaultSettings(bao_server.addr), retries=2, backoff=0.05)

    with pytest.raises(VaultAuthError, match="needs VAULT_TOKEN"):
        client.login()


@pytest.mark.django_db
def test_vault_layer_keeps_reading_with_a_valid_token_that_cannot_be_renewed(
    bao_server: BaoServer,  # noqa: F811
    use_config_store: Callable[..., ConfigStore],
) -> None:
    root_write(bao_server, APP, {"maintenance_banner": "v1"})
    token = bao_server.root.auth.token.create(policies=["root"], ttl="1h", renewable=False)["auth"]["client_token"]
    # renew_when_remaining=1.0 makes renewal due at once instead of after 40 minutes of this token's hour.
    client = VaultClient(VaultSettings(bao_server.addr, token=token), retries=2, backoff=0.05, renew_when_remaining=1.0)
    use_config_store([DefaultsLayer(), VaultLayer(client, "test")])
    client.login()

    assert config_get("app.maintenance_banner") == "v1"


def test_unreachable_vault_raises_unavailable_after_the_configured_retries() -> None:
    sleeps: list[float] = []
    client = VaultClient(
        VaultSettings(f"http://127.0.0.1:{free_port()}", token="irrelevant"),
        retries=3,
        backoff=0.05,
        sleep=sleeps.append,
    )

    with pytest.raises(VaultUnavailable, match="token lookup after 3 attempts: ConnectionError"):
        client.login()

    assert sleeps == [0.05, 0.1]


# --- Kubernetes ---------------------------------------------------------------------------------------------------


class TokenReviewApi:
    """A stand-in for the Kubernetes API server's TokenReview endpoint that records every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # (path, authorization header, body)
        self.authenticated = True
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                api.requests.append((self.path, self.headers.get("Authorization", ""), body))
                if self.path != "/apis/authentication.k8s.io/v1/tokenreviews":
                    self.send_error(404)
                    return
                status: dict[str, Any] = {"authenticated": api.authenticated}
                if api.authenticated:
                    status["user"] = {
                        "username": "system:serviceaccount:ecap:portal",
                        "uid": "5f0e3c52-0000-4000-8000-000000000001",
                        "groups": ["system:serviceaccounts", "system:serviceaccounts:ecap"],
                    }
                else:
                    status["error"] = "token is not valid"
                answer = json.dumps(
                    {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "status": status}
                ).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def token_review_api() -> Iterator[TokenReviewApi]:
    api = TokenReviewApi()
    try:
        yield api
    finally:
        api.close()


def self_signed_ca_pem() -> str:
    """A CA certificate for the auth method's config; the plain-HTTP stand-in never presents it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ecap-test-kubernetes-ca")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def service_account_jwt() -> str:
    """A JWT shaped like a Kubernetes service-account token of ``ecap/portal`` (Vault does not verify it here)."""

    def segment(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": "ecap",
        "kubernetes.io/serviceaccount/service-account.name": "portal",
        "kubernetes.io/serviceaccount/service-account.uid": "5f0e3c52-0000-4000-8000-000000000001",
        "sub": "system:serviceaccount:ecap:portal",
    }
    signature = base64.urlsafe_b64encode(b"not-a-real-signature").rstrip(b"=").decode()
    return f"{segment({'alg': 'RS256', 'kid': 'test'})}.{segment(claims)}.{signature}"


@pytest.fixture
def kubernetes_auth(bao_server: BaoServer, token_review_api: TokenReviewApi) -> None:  # noqa: F811
    """Kubernetes auth at ``kubernetes/`` validating tokens against the stand-in; role ``portal`` reads ecap/test."""
    root = bao_server.root
    root.sys.enable_auth_method("kubernetes")
    root.auth.kubernetes.configure(
        kubernetes_host=token_review_api.url,
        kubernetes_ca_cert=self_signed_ca_pem(),
        disable_local_ca_jwt=True,
    )
    root.sys.create_or_update_policy(name="ecap-test-read", policy=READ_ONLY_POLICY)
    root.auth.kubernetes.create_role(
        "portal",
        bound_service_account_names=["portal"],
        bound_service_account_namespaces=["ecap"],
        policies=["ecap-test-read"],
        ttl="10m",
    )


@pytest.mark.usefixtures("kubernetes_auth")
def test_kubernetes_login_sends_the_service_account_token_for_review_and_reads_secrets(
    bao_server: BaoServer,  # noqa: F811
    token_review_api: TokenReviewApi,
    tmp_path: Path,
) -> None:
    root_write(bao_server, APP, {"maintenance_banner": "via kubernetes"})
    jwt = service_account_jwt()
    jwt_file = tmp_path / "token"
    jwt_file.write_text(jwt + "\n")
    client = VaultClient(
        VaultSettings(
            bao_server.addr, auth_method="kubernetes", kubernetes_role="portal", kubernetes_jwt_path=str(jwt_file)
        ),
        retries=2,
        backoff=0.05,
    )

    client.login()

    assert len(token_review_api.requests) == 1
    path, authorization, body = token_review_api.requests[0]
    assert path == "/apis/authentication.k8s.io/v1/tokenreviews"
    assert body["spec"]["token"] == jwt
    assert authorization == f"Bearer {jwt}"  # no reviewer JWT configured: Vault reviews with the client's own
    remaining = client.token_remaining()
    assert remaining is not None
    assert 0 < remaining <= 600
    assert client.read(APP) == ({"maintenance_banner": "via kubernetes"}, 1)


@pytest.mark.usefixtures("kubernetes_auth")
def test_kubernetes_login_refused_by_token_review_raises_auth_error(
    bao_server: BaoServer,  # noqa: F811
    token_review_api: TokenReviewApi,
    tmp_path: Path,
) -> None:
    token_review_api.authenticated = False
    jwt_file = tmp_path / "token"
    jwt_file.write_text(service_account_jwt())
    client = VaultClient(
        VaultSettings(
            bao_server.addr, auth_method="kubernetes", kubernetes_role="portal", kubernetes_jwt_path=str(jwt_file)
        ),
        retries=2,
        backoff=0.05,
    )

    with pytest.raises(VaultAuthError, match="kubernetes login failed"):
        client.login()

    assert len(token_review_api.requests) == 1
    assert client.token_remaining() is None


def test_kubernetes_login_without_a_token_file_names_the_problem(tmp_path: Path) -> None:
    client = VaultClient(
        VaultSettings(
            f"http://127.0.0.1:{free_port()}",
            auth_method="kubernetes",
            kubernetes_role="portal",
            kubernetes_jwt_path=str(tmp_path / "missing"),
        ),
        retries=1,
    )

    with pytest.raises(VaultAuthError, match="cannot read the service-account token: No such file"):
        client.login()


# --- Vault as a configuration layer -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_vault_value_wins_over_the_default_and_explains_its_path_and_version(
    bao_server: BaoServer,  # noqa: F811
    vault_store: tuple[ConfigStore, VaultLayer],
) -> None:
    root_write(bao_server, APP, {"maintenance_banner": "first"})
    root_write(bao_server, APP, {"maintenance_banner": "v1", "not_declared": "x"})

    assert config_get("app.maintenance_banner") == "v1"
    reports = {r.layer: r for r in get_store().explain("app.maintenance_banner")}
    assert reports["vault"].wins
    assert reports["vault"].display == "v1"
    assert reports["vault"].origin == "vault secret/ecap/test/app v2: maintenance_banner"
    assert not reports["default"].wins
    assert get_store().unknown_keys() == ["vault secret/ecap/test/app v2: not_declared"]


@pytest.mark.django_db
def test_vault_outage_serves_the_cache_degraded_and_recovers_after_restart(
    bao_server: BaoServer,  # noqa: F811
    vault_store: tuple[ConfigStore, VaultLayer],
    client: Client,
) -> None:
    store, layer = vault_store
    root_write(bao_server, APP, {"maintenance_banner": "v1"})
    assert config_get("app.maintenance_banner") == "v1"
    assert check_vault() == (True, "reachable")

    bao_server.stop()
    time.sleep(0.05)  # a measurable age for the cache
    store.load([layer])

    assert config_get("app.maintenance_banner") == "v1"
    vault_report = next(r for r in store.explain("app.maintenance_banner") if r.layer == "vault")
    assert vault_report.wins
    assert "cached" in vault_report.origin
    assert "vault secret/ecap/test/app v1" in vault_report.origin
    with pytest.raises(Degraded, match="serving values cached"):
        check_vault()
    staleness = gauge("ecap_config_vault_staleness_seconds")
    assert staleness is not None
    assert staleness > 0
    assert gauge("ecap_config_vault_up") == 0
    response = client.get(reverse("readyz"))
    body = json.loads(response.content)
    assert response.status_code == 200, body
    assert body["status"] == "degraded"
    assert "vault" in body["degraded"]
    assert body["checks"]["vault"]["ok"]

    bao_server.start()  # same port, empty: the dev server keeps nothing
    root_write(bao_server, APP, {"maintenance_banner": "v2"})

    assert check_vault() == (True, "reachable")
    assert config_get("app.maintenance_banner") == "v2"
    assert gauge("ecap_config_vault_staleness_seconds") == 0
    assert gauge("ecap_config_vault_up") == 1
    vault_report = next(r for r in store.explain("app.maintenance_banner") if r.layer == "vault")
    assert "cached" not in vault_report.origin


@pytest.mark.django_db
def test_check_vault_fails_when_vault_is_unreachable_and_was_never_read(
    use_config_store: Callable[..., ConfigStore],
) -> None:
    client = VaultClient(VaultSettings(f"http://127.0.0.1:{free_port()}", token="irrelevant"), retries=2, backoff=0.01)
    use_config_store([DefaultsLayer(), VaultLayer(client, "test")])

    ok, detail = check_vault()

    assert not ok
    assert detail.startswith("unreachable and never read")
    assert config_get("app.maintenance_banner") == ""  # the declared default keeps serving
    assert gauge("ecap_config_vault_up") == 0


@pytest.mark.django_db
def test_check_vault_fails_when_the_cache_is_older_than_max_staleness(
    bao_server: BaoServer,  # noqa: F811
    vault_store: tuple[ConfigStore, VaultLayer],
) -> None:
    _, layer = vault_store
    root_write(bao_server, APP, {"maintenance_banner": "v1"})
    assert config_get("app.maintenance_banner") == "v1"
    bao_server.stop()
    max_age = config_get("vault.max_staleness_seconds")
    assert layer.last_success is not None
    layer.last_success -= max_age + 60

    ok, detail = check_vault()

    assert not ok
    assert "past vault.max_staleness_seconds" in detail
    staleness = gauge("ecap_config_vault_staleness_seconds")
    assert staleness is not None
    assert staleness > max_age
    assert config_get("app.maintenance_banner") == "v1"  # still served: failing readiness is the operator's signal


# --- change polling -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_first_poll_records_every_vault_value_as_a_change_and_bumps_the_version(
    bao_server: BaoServer,  # noqa: F811
    vault_store: tuple[ConfigStore, VaultLayer],
) -> None:
    root_write(bao_server, APP, {"maintenance_banner": "v1"})
    root_write(bao_server, "ecap/test/api", {"throttle_user_rate": "100/minute"})
    version_before = config_version()

    changed = vault_changes_poll()

    assert sorted(changed) == ["api.throttle_user_rate", "app.maintenance_banner"]
    rows = {c.key: c for c in ConfigChange.objects.all()}
    assert set(rows) == set(changed)
    assert {(c.layer, c.actor_label, c.actor_id) for c in rows.values()} == {("vault", "vault", None)}
    assert rows["app.maintenance_banner"].new_value == "v1"
    assert rows["app.maintenance_banner"].detail == "secret/ecap/test/app v0 → v1"
    assert config_version() == version_before + 1


@pytest.mark.django_db
def test_poll_without_vault_changes_records_nothing(
    bao_server: BaoServer,  # noqa: F811
    vault_store: tuple[ConfigStore, VaultLayer],
) -> None:
    root_write(bao_server, APP, {"maintenance_banner": "v1"})
    vault_changes_poll()
    changes_before, version_before = ConfigChange.objects.count(), config_version()

    assert vault_changes_poll() == []

    assert ConfigChange.objects.count() == changes_before
    assert config_version() == version_before


@pytest.mark.django_db
def test_poll_records_a_changed_value_with_old_new_and_the_version_change(
    bao_server: BaoServer,  # noqa: F811
    vault_store: tuple[ConfigStore, VaultLayer],
) -> None:
    root_write(bao_server, APP, {"maintenance_banner": "v1", "undeclared_but_same": "x"})
    vault_changes_poll()
    seen = set(ConfigChange.objects.values_list("pk", flat=True))
    version_before = config_version()
    root_write(bao_server, APP, {"maintenance_banner": "v2", "undeclared_but_same": "x"})

    changed = vault_changes_poll()

    assert changed == ["app.maintenance_banner"]
    new_rows = list(ConfigChange.objects.exclude(pk__in=seen))
    assert len(new_rows) == 1
    change = new_rows[0]
    assert (change.key, change.layer, change.actor_label) == ("app.maintenance_banner", "vault", "vault")
    assert change.old_value == "v1"
    assert change.new_value == "v2"
    assert change.detail == "secret/ecap/test/app v1 → v2"
    assert config_version() == version_before + 1


@pytest.mark.django_db
def test_poll_old_value_is_the_value_before_this_change_not_an_older_one(
    bao_server: BaoServer,  # noqa: F811
    vault_store: tuple[ConfigStore, VaultLayer],
) -> None:
    root_write(bao_server, APP, {"maintenance_banner": "v1"})
    vault_changes_poll()
    root_write(bao_server, APP, {"maintenance_banner": "v2"})
    vault_changes_poll()
    root_write(bao_server, APP, {"maintenance_banner": "v3"})

    vault_changes_poll()

    latest = ConfigChange.objects.filter(key="app.maintenance_banner").order_by("-id").first()
    assert latest is not None
    assert (latest.old_value, latest.new_value) == ("v2", "v3")


@pytest.mark.django_db
def test_poll_masks_secret_values_and_never_records_the_key(
    bao_server: BaoServer,  # noqa: F811
    vault_store: tuple[ConfigStore, VaultLayer],
) -> None:
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    root_write(bao_server, SECRETS, {"fernet_keys": first})
    vault_changes_poll()
    root_write(bao_server, SECRETS, {"fernet_keys": f"{second},{first}"})

    assert vault_changes_poll() == ["secrets.fernet_keys"]

    rows = list(ConfigChange.objects.filter(key="secrets.fernet_keys").order_by("id"))
    assert [(r.old_value, r.new_value) for r in rows] == [("", "********"), ("********", "********")]
    assert rows[1].detail == "secret/ecap/test/secrets v1 → v2"
    for row in ConfigChange.objects.all():
        recorded = f"{row.key} {row.old_value} {row.new_value} {row.detail}"
        assert first not in recorded
        assert second not in recorded


# --- the Fernet keyring in Vault ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_keyring_write_to_vault_stores_the_keys_comma_separated_and_keeps_other_fields(
    bao_server: BaoServer,  # noqa: F811
    vault_store: tuple[ConfigStore, VaultLayer],
) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    root_write(bao_server, SECRETS, {"fernet_keys": old_key, "other_field": "kept"})
    version_before = config_version()

    where = keyring_write([new_key, old_key], store="vault")

    assert where == "vault secret/ecap/test/secrets"
    assert root_read(bao_server, SECRETS) == {"fernet_keys": f"{new_key},{old_key}", "other_field": "kept"}
    assert (
        bao_server.root.secrets.kv.v2.read_secret_version(path=SECRETS, raise_on_deleted_version=True)["data"][
            "metadata"
        ]["version"]
        == 2
    )
    assert secret_get("secrets.fernet_keys") == [new_key, old_key]  # this process reloaded at once
    assert config_version() == version_before + 1


@pytest.mark.django_db
def test_keyring_write_to_vault_creates_the_secret_when_missing(
    bao_server: BaoServer,  # noqa: F811
    vault_store: tuple[ConfigStore, VaultLayer],
) -> None:
    key = Fernet.generate_key().decode()

    keyring_write([key], store="vault")

    assert root_read(bao_server, SECRETS) == {"fernet_keys": key}
