"""The on-call admin: every model opens, addresses are masked in the list and audited when opened, the forms refuse
what the API refuses, and what the engine writes is read-only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.common.models import User
from apps.oncall import services
from apps.oncall.choices import ContactKind, StepKind
from apps.oncall.models import ContactMethod, Delivery, Escalation, EscalationPolicy
from apps.oncall.services import StepIn

pytestmark = pytest.mark.django_db

MODELS = (
    "team", "schedule", "layer", "override", "escalationpolicy", "contactmethod", "notificationrule", "escalation",
    "delivery", "handoffnotice",
)  # fmt: skip


@pytest.fixture
def admin_client(make_user: Callable[..., User]) -> Client:
    client = Client()
    client.force_login(make_user(role="admin", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def ann(make_user: Callable[..., User]) -> User:
    return make_user(username="ann", role="oncall_engineer")


def inline_management(prefix: str, total: int = 0) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


@pytest.mark.parametrize("model", MODELS)
def test_every_model_has_a_changelist(admin_client: Client, model: str) -> None:
    assert admin_client.get(f"/admin/oncall/{model}/").status_code == 200


def test_contact_addresses_are_masked_in_the_list_and_opening_one_is_an_audited_read(
    admin_client: Client, ann: User
) -> None:
    method = services.contact_method_create(user=ann, kind=ContactKind.SMS, address="+14155554567")
    listing = admin_client.get("/admin/oncall/contactmethod/").content.decode()
    assert "+1••••••4567" in listing
    assert "+14155554567" not in listing
    assert not AuditEvent.objects.filter(action="read", details__fields=["address"]).exists()
    page = admin_client.get(f"/admin/oncall/contactmethod/{method.pk}/change/")
    assert page.status_code == 200
    assert "+14155554567" in page.content.decode()
    read = AuditEvent.objects.filter(action="read").order_by("-id").first()
    assert read is not None
    assert read.details["fields"] == ["address"]


def test_the_admin_refuses_a_bad_address_and_keeps_a_secret_left_empty(admin_client: Client, ann: User) -> None:
    refused = admin_client.post(
        "/admin/oncall/contactmethod/add/", {"user": ann.pk, "kind": "sms", "address": "555-0142", "enabled": "on"}
    )
    assert refused.status_code == 200
    assert "Not an E.164 phone number" in refused.content.decode()
    assert not ContactMethod.objects.exists()
    hook = services.contact_method_create(
        user=ann, kind=ContactKind.WEBHOOK, address="https://h.example/x", secret="s" * 20
    )
    page = admin_client.get(f"/admin/oncall/contactmethod/{hook.pk}/change/").content.decode()
    assert "s" * 20 not in page
    saved = admin_client.post(
        f"/admin/oncall/contactmethod/{hook.pk}/change/",
        {
            "user": ann.pk,
            "kind": "webhook",
            "address": "https://h.example/y",
            "label": "new",
            "secret": "",
            "enabled": "on",
        },
    )
    assert saved.status_code == 302
    hook.refresh_from_db()
    assert (hook.address, hook.secret, hook.label) == ("https://h.example/y", "s" * 20, "new")


def test_a_policy_needs_a_notify_step_and_each_step_its_target(admin_client: Client, ann: User) -> None:
    prefix = "steps"
    base = {
        "name": "critical", "repeat_count": "0", "business_time_zone": "UTC", "business_start": "09:00",
        "business_end": "17:00", "business_weekdays": "[0, 1, 2, 3, 4]",
    }  # fmt: skip
    only_wait = {
        **base,
        **inline_management(prefix, 1),
        f"{prefix}-0-position": "0",
        f"{prefix}-0-kind": StepKind.WAIT,
        f"{prefix}-0-wait_minutes": "5",
    }
    refused = admin_client.post("/admin/oncall/escalationpolicy/add/", only_wait)
    assert refused.status_code == 200
    assert "at least one step that notifies someone" in refused.content.decode()
    no_schedule = {
        **base,
        **inline_management(prefix, 1),
        f"{prefix}-0-position": "0",
        f"{prefix}-0-kind": StepKind.NOTIFY_SCHEDULE,
        f"{prefix}-0-wait_minutes": "0",
    }
    refused = admin_client.post("/admin/oncall/escalationpolicy/add/", no_schedule)
    assert "Name the schedule to notify." in refused.content.decode()
    assert not EscalationPolicy.objects.exists()
    good = {
        **base,
        **inline_management(prefix, 1),
        f"{prefix}-0-position": "0",
        f"{prefix}-0-kind": StepKind.NOTIFY_USERS,
        f"{prefix}-0-users": [str(ann.pk)],
        f"{prefix}-0-wait_minutes": "0",
    }
    assert admin_client.post("/admin/oncall/escalationpolicy/add/", good).status_code == 302
    assert list(EscalationPolicy.objects.get(name="critical").steps.get().users.all()) == [ann]


def test_a_layer_with_bad_restrictions_is_refused(admin_client: Client) -> None:
    schedule = services.schedule_create(name="Primary")
    response = admin_client.post(
        "/admin/oncall/layer/add/",
        {
            "schedule": schedule.pk,
            "name": "Business hours",
            "position": "1",
            "time_zone": "UTC",
            "rotation_start_0": "2026-01-05",
            "rotation_start_1": "09:00:00",
            "shift_length": "1",
            "shift_unit": "weeks",
            "restrictions": '[{"weekdays": [9], "start": "09:00", "end": "17:00"}]',
            **inline_management("turns"),
        },
    )
    assert response.status_code == 200
    assert "weekdays must be a non-empty list" in response.content.decode()
    assert not schedule.layers.exists()


def test_escalations_and_deliveries_are_read_only(admin_client: Client, ann: User, make_incident) -> None:
    incident = make_incident()
    policy = services.policy_create(name="critical", steps=[StepIn(kind=StepKind.NOTIFY_USERS, users=[ann])])
    escalation = Escalation.objects.create(incident=incident, policy=policy, snapshot={}, due_at=timezone.now())
    method = services.contact_method_create(user=ann, kind=ContactKind.EMAIL, address="ann@example.com")
    delivery = Delivery.objects.create(
        incident=incident,
        escalation=escalation,
        user=ann,
        contact_method=method,
        kind=ContactKind.EMAIL,
        dedup_key="page:test",
        due_at=timezone.now() + timedelta(minutes=5),
        tries=2,
        last_error="SMTP 451 temporary failure",
    )
    listing = admin_client.get("/admin/oncall/delivery/").content.decode()
    assert "SMTP 451 temporary failure" in listing
    assert "ann@example.com" not in listing
    assert admin_client.get("/admin/oncall/delivery/add/").status_code == 403
    assert admin_client.get("/admin/oncall/escalation/add/").status_code == 403
    view = admin_client.get(f"/admin/oncall/delivery/{delivery.pk}/change/")
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    assert admin_client.post(f"/admin/oncall/escalation/{escalation.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Escalation.objects.filter(pk=escalation.pk).exists()
