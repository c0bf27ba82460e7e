"""Capture: every change of governed models, however written (save, bulk, queryset update, raw SQL), logins and
failed logins, token and permission changes, configuration changes — with the acting user and request attached."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import close_old_connections, connection
from django.test import Client
from django.utils import timezone

from apps.audit.context import AuditContext, acting_as
from apps.audit.models import AuditEvent, SecurityAlert
from apps.audit.services import audit_record, audit_seal_pending
from apps.audit.verify import verify_chain
from apps.common.models import ApiToken, User
from apps.common.services import api_token_create

pytestmark = pytest.mark.django_db


def events(after: int = 0, **filters: object) -> list[AuditEvent]:
    audit_seal_pending()
    return list(AuditEvent.objects.filter(seq__gt=after, **filters).order_by("seq"))


def mark() -> int:
    """The last sequence number so far: what a test does next comes after it."""
    audit_seal_pending()
    return AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").values_list("seq", flat=True).first() or 0


def test_save_bulk_create_queryset_update_and_raw_sql_are_all_captured() -> None:
    user = User.objects.create(username="ada", email="ada@example.com")
    User.objects.bulk_create([User(username="bulk1"), User(username="bulk2")])
    User.objects.filter(username__startswith="bulk").update(is_active=False)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE common_user SET time_zone = 'Europe/Paris' WHERE id = %s", [user.pk])
    User.objects.filter(username="bulk2").delete()

    captured = events(target_type="common.user")
    assert [(e.action, e.target_label) for e in captured] == [
        ("create", "ada"),
        ("create", "bulk1"),
        ("create", "bulk2"),
        ("update", "bulk1"),
        ("update", "bulk2"),
        ("update", "ada"),
        ("delete", "bulk2"),
    ]
    assert captured[3].changes == {"is_active": {"old": True, "new": False}}
    assert captured[5].changes == {"time_zone": {"old": "UTC", "new": "Europe/Paris"}}
    assert all(e.details["source"] == "row trigger" for e in captured)
    assert verify_chain().ok


def test_personal_and_secret_values_are_masked_but_the_change_is_kept(user: User) -> None:
    before = mark()
    User.objects.filter(pk=user.pk).update(email="new@example.com", password="pbkdf2$secret")
    (change,) = events(before, target_type="common.user", action="update")
    assert change.changes == {
        "email": {"old": "********", "new": "********"},
        "password": {"old": "********", "new": "********"},
    }
    stored = str(AuditEvent.objects.filter(pk=change.pk).values().get())
    assert "new@example.com" not in stored
    assert "pbkdf2$secret" not in stored


def test_changes_only_to_ignored_columns_are_not_events(user: User) -> None:
    before = mark()
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    assert events(before, target_type="common.user", action="update") == []


def test_api_request_changes_name_the_token_user_and_request_id(token_client) -> None:
    client, owner = token_client()
    token, _ = api_token_create(user=owner, name="to revoke")
    response = client.post(f"/api/v1/common/tokens/{token.public_id}/revoke/", HTTP_X_REQUEST_ID="req-revoke-0001")
    assert response.status_code == 200
    (revoke,) = events(action="token_revoke")
    assert revoke.actor_label == owner.username
    assert revoke.actor_id == str(owner.public_id)
    assert revoke.actor_type == "token"
    assert revoke.actor_token == ApiToken.objects.filter(user=owner, name="test").get().prefix
    assert revoke.request_id == "req-revoke-0001"
    assert revoke.changes["revoked_at"]["old"] is None
    assert revoke.changes["revoked_by_id"] == {"old": None, "new": owner.pk}
    assert events(action="token_create", target_id=str(token.public_id))


def test_logins_and_failed_logins_are_recorded_with_address(make_user) -> None:
    make_user(username="carol", is_staff=True)
    client = Client(REMOTE_ADDR="203.0.113.7")
    client.post("/admin/login/", {"username": "carol", "password": "wrong"})
    client.post("/admin/login/", {"username": "carol", "password": "correct-horse-battery"})
    failed, logged_in = events(action="login_failed")[0], events(action="login")[0]
    assert (failed.actor_label, failed.ip, failed.outcome) == ("carol", "203.0.113.7", "failed")
    assert (logged_in.actor_label, logged_in.ip, logged_in.outcome) == ("carol", "203.0.113.7", "success")


def test_five_failed_logins_in_an_hour_raise_one_alert(make_user, settings) -> None:
    make_user(username="mallory")
    client = Client(REMOTE_ADDR="198.51.100.9")
    for _ in range(6):
        client.post("/admin/login/", {"username": "mallory", "password": "guess"})
    audit_seal_pending()
    alerts = SecurityAlert.objects.filter(rule="failed_logins")
    assert sorted(a.dedup_key.split(":")[0] for a in alerts) == ["ip", "user"]
    assert all(a.details["count"] == 5 for a in alerts)


def test_adding_someone_to_the_admin_role_is_a_permission_change_and_an_escalation_alert(make_user) -> None:
    victim = make_user(username="eve")
    with acting_as(AuditContext(actor_type="user", actor_label="insider", actor_id="x")):
        victim.groups.add(Group.objects.get(name="admin"))
    (change,) = events(action="permission_change", target_type="common.user_groups")
    assert change.changes["user_id"] == {"new": victim.pk}
    assert change.actor_label == "insider"
    assert SecurityAlert.objects.filter(rule="privilege_escalation").count() == 1


def test_configuration_overrides_are_config_change_events(make_user) -> None:
    from apps.configuration.services import config_override_set

    admin = make_user(role="admin")
    with acting_as(AuditContext(actor_type="user", actor_label=admin.username, actor_id=str(admin.public_id))):
        config_override_set(key="remediation.cooldown_minutes", value=20, actor=admin)
    (change,) = events(action="config_change")
    assert change.changes["override"] == {"old": None, "new": 20}
    assert change.actor_label == admin.username


def test_credentials_are_captured_without_their_secrets() -> None:
    from apps.configuration.models import Credential

    Credential.objects.create(name="pagerduty", kind="api_token", secret="pd-secret-value", secret_extra={"k": "v"})
    (created,) = events(target_type="configuration.credential")
    assert created.changes["secret"] == {"new": "********"}
    assert "pd-secret-value" not in str(AuditEvent.objects.filter(pk=created.pk).values().get())
    assert created.risk_score == 30


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain() -> None:
    writers, per_writer = 8, 40
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(per_writer):
                audit_record(action="update", target_type="test.thing", target_id=f"{n}-{i}")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    audit_seal_pending()
    sealed = list(AuditEvent.objects.filter(target_type="test.thing").order_by("seq").values_list("seq", flat=True))
    assert len(sealed) == writers * per_writer
    everything = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert everything == list(range(1, len(everything) + 1))
    assert AuditEvent.objects.filter(hash__isnull=True).count() == 0
    assert verify_chain().ok


def test_pending_events_are_durable_before_sealing_and_sealed_in_write_order() -> None:
    first = audit_record(action="update", target_type="test.thing", target_id="1")
    second = audit_record(action="update", target_type="test.thing", target_id="2")
    assert AuditEvent.objects.filter(pk__in=[first.pk, second.pk], hash__isnull=True).count() == 2
    audit_seal_pending()
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.seq == first.seq + 1
    assert second.prev_hash == first.hash


def test_events_older_than_an_hour_still_verify(make_user) -> None:
    old = audit_record(action="read", target_type="common.user", occurred_at=timezone.now() - timedelta(days=3))
    audit_seal_pending()
    old.refresh_from_db()
    assert old.occurred_at < timezone.now() - timedelta(days=2)
    assert old.seq is not None
    assert verify_chain().ok


def test_python_and_database_verification_agree_on_captured_and_recorded_events(user: User) -> None:
    from apps.audit.verify import VerifyReport, _verify_python

    User.objects.filter(pk=user.pk).update(time_zone="Asia/Tokyo", is_active=False)
    audit_record(action="read", target_type="common.user", details={"fields": ["email"], "naïve": "ünïcödé ✓"})
    audit_seal_pending()
    report = VerifyReport()
    _verify_python(report, 1, AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first())
    assert report.ok, report.problems
    assert verify_chain().ok


def test_python_renders_json_exactly_as_postgresql_does() -> None:
    import json

    from apps.audit.canonical import jsonb_text

    value = {"zeta": 1, "a": {"bb": [1, "x", None, True], "b": 'ünï\n"q"'}, "ab": {}, "é": "é", "B": False}
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb::text", [json.dumps(value)])
        assert jsonb_text(value) == cursor.fetchone()[0]
