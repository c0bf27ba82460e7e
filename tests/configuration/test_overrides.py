"""Runtime overrides: validated, recorded with who/when/old/new, applied at once; the admin and the read-only API."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.common.errors import DomainError
from apps.configuration.models import ConfigChange, ConfigEntry, ConfigVersion
from apps.configuration.services import config_get, config_override_clear, config_override_set

pytestmark = pytest.mark.django_db


def test_override_is_validated_recorded_and_served(make_user) -> None:
    admin = make_user(role="admin")
    version_before = ConfigVersion.objects.filter(pk=1).values_list("version", flat=True).first() or 0
    config_override_set(key="remediation.max_runs_per_hour", value="5", actor=admin)
    assert config_get("remediation.max_runs_per_hour") == 5
    entry = ConfigEntry.objects.get(key="remediation.max_runs_per_hour")
    assert entry.override == 5
    assert entry.override_set_by == admin
    change = ConfigChange.objects.get(key="remediation.max_runs_per_hour")
    assert (change.layer, change.old_value, change.new_value, change.actor) == ("override", "", "5", admin)
    assert ConfigVersion.objects.get(pk=1).version == version_before + 1


def test_clearing_an_override_falls_back_to_the_layers_below(make_user, django_capture_on_commit_callbacks) -> None:
    admin = make_user(role="admin")
    with django_capture_on_commit_callbacks(execute=True):
        config_override_set(key="remediation.kill_switch", value=True, actor=admin)
    assert config_get("remediation.kill_switch") is True
    with django_capture_on_commit_callbacks(execute=True):
        config_override_clear(key="remediation.kill_switch", actor=admin)
    assert config_get("remediation.kill_switch") is False
    assert list(ConfigChange.objects.filter(key="remediation.kill_switch").values_list("old_value", "new_value")) == [
        ("true", ""),
        ("", "true"),
    ]


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        ("remediation.max_runs_per_hour", "1000", "validation_error"),
        ("spark.submit_backend", "yarn", "validation_error"),
        ("secrets.fernet_keys", "x", "secret_not_overridable"),
    ],
)
def test_invalid_or_secret_overrides_are_refused(make_user, key: str, value: str, code: str) -> None:
    with pytest.raises(DomainError) as excinfo:
        config_override_set(key=key, value=value, actor=make_user())
    assert excinfo.value.code == code
    assert not ConfigChange.objects.exists()


def test_throttle_rate_change_applies_without_restart(
    make_user, token_client, django_capture_on_commit_callbacks
) -> None:
    client, _ = token_client()
    assert [client.get("/api/v1/common/me/").status_code for _ in range(3)] == [200, 200, 200]
    with django_capture_on_commit_callbacks(execute=True):
        config_override_set(key="api.throttle_user_rate", value="3/hour", actor=make_user())
    assert client.get("/api/v1/common/me/").status_code == 429


def admin_client(make_user) -> Client:
    client = Client()
    client.force_login(make_user(role="admin", is_staff=True, is_superuser=True))
    return client


def test_admin_lists_keys_with_type_effective_value_source_and_description(make_user) -> None:
    html = admin_client(make_user).get("/admin/configuration/configentry/").content.decode()
    assert "remediation.cooldown_minutes" in html
    assert "Minimum minutes between two runs" in html
    assert "********" in html  # secrets.fernet_keys is shown masked
    assert "env (env ECAP_SECRETS__FERNET_KEYS)" in html


def test_admin_edit_validates_and_records_history(make_user, django_capture_on_commit_callbacks) -> None:
    client = admin_client(make_user)
    entry = ConfigEntry.objects.get(key="remediation.cooldown_minutes")
    url = f"/admin/configuration/configentry/{entry.pk}/change/"
    bad = client.post(url, {"override_text": "-5"})
    assert bad.status_code == 200
    assert "Invalid value: -5 is below the minimum 0" in bad.content.decode()
    assert config_get("remediation.cooldown_minutes") == 10
    with django_capture_on_commit_callbacks(execute=True):
        good = client.post(url, {"override_text": "12"})
    assert good.status_code == 302
    assert config_get("remediation.cooldown_minutes") == 12
    page = client.get(url).content.decode()
    assert "runtime override set" in page
    assert "admin override by" in page


def test_admin_cannot_override_a_secret(make_user) -> None:
    client = admin_client(make_user)
    entry = ConfigEntry.objects.get(key="secrets.fernet_keys")
    client.post(f"/admin/configuration/configentry/{entry.pk}/change/", {"override_text": "abc"})
    entry.refresh_from_db()
    assert entry.override is None


def test_api_entries_are_for_admins_only_and_mask_secrets(token_client) -> None:
    steward, _ = token_client(role="data_steward")
    assert steward.get("/api/v1/configuration/entries/").status_code == 403
    admin, _ = token_client(role="admin")
    body = admin.get("/api/v1/configuration/entries/", {"page_size": 100}).json()
    entries = {e["key"]: e for e in body["results"]}
    assert entries["secrets.fernet_keys"]["value"] == "********"
    assert entries["secrets.fernet_keys"]["layer"] == "env"
    assert entries["remediation.cooldown_minutes"]["value"] == "10"
    one = admin.get(reverse("api:configuration:entry-detail", kwargs={"key": "lake.root"})).json()
    assert one["value"] == "file:///tmp/ecap-test-lake"
    assert [layer["layer"] for layer in one["layers"] if layer["wins"]] == ["file"]
    missing = admin.get("/api/v1/configuration/entries/no.such_key/")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


def test_entries_api_query_count_does_not_grow_with_overrides(token_client, make_user) -> None:
    from apps.common.testing import assert_queries_constant

    admin, _ = token_client(role="admin")
    actor = make_user()
    keys = iter(
        [
            "remediation.cooldown_minutes",
            "remediation.max_runs_per_hour",
            "remediation.max_scale_up_percent",
            "audit.retention_days",
            "audit.risk_alert_threshold",
            "vault.max_staleness_seconds",
        ]
    )
    values = {
        "remediation.cooldown_minutes": 11,
        "remediation.max_runs_per_hour": 4,
        "remediation.max_scale_up_percent": 150,
        "audit.retention_days": 3000,
        "audit.risk_alert_threshold": 60,
        "vault.max_staleness_seconds": 600,
    }

    def grow(n: int) -> None:
        for _ in range(n):
            key = next(keys)
            config_override_set(key=key, value=values[key], actor=actor)

    assert_queries_constant(lambda: admin.get("/api/v1/configuration/entries/"), grow, small=1, large=6)
