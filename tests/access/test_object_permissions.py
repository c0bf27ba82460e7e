"""Object-level rights on top of the roles: a steward changes only the datasets they steward (API and admin alike;
another steward's dataset is refused), an administrator changes every dataset; an on-call responder's contact
methods and notification rules are theirs alone (another responder can neither read nor change the phone number);
an integrator follows the data-subject requests it filed, never anyone else's. (Quality rules are owned through their
dataset; tests/quality/test_api.py proves a steward of another dataset is refused.)"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, cast

import pytest
from django.test import Client

from apps.catalog.models import Dataset
from apps.catalog.stewardship import STEWARD, dataset_role_assign
from apps.common import roles
from apps.oncall.models import ContactMethod, NotificationRule
from tests.catalog.factories import DatasetFactory

pytestmark = pytest.mark.django_db


def make_dataset(**fields: Any) -> Dataset:
    return cast("Dataset", DatasetFactory(**fields))


DATASETS = "/api/v1/catalog/datasets"
PHONE = "+15550100777"


@pytest.fixture
def two_stewards(token_client: Callable[..., Any]) -> dict[str, Any]:
    mine, theirs = make_dataset(description="mine"), make_dataset(description="theirs")
    client, steward = token_client(role=roles.DATA_STEWARD, is_staff=True)
    _, other = token_client(role=roles.DATA_STEWARD, is_staff=True)
    dataset_role_assign(dataset=mine, user=steward, role=STEWARD, actor=None)
    dataset_role_assign(dataset=theirs, user=other, role=STEWARD, actor=None)
    return {"client": client, "steward": steward, "mine": mine, "theirs": theirs}


def test_a_steward_patches_only_the_datasets_they_steward(two_stewards: dict[str, Any]) -> None:
    client, mine, theirs = two_stewards["client"], two_stewards["mine"], two_stewards["theirs"]
    changed = client.patch(f"{DATASETS}/{mine.public_id}/", {"description": "edited"}, format="json")
    assert changed.status_code == 200, changed.content
    refused = client.patch(f"{DATASETS}/{theirs.public_id}/", {"description": "hijacked"}, format="json")
    assert refused.status_code in (403, 404)
    assert set(refused.json()) == {"code", "detail", "fields"}
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.description == "edited"
    assert theirs.description == "theirs"


def test_an_admin_patches_every_dataset(two_stewards: dict[str, Any], token_client: Callable[..., Any]) -> None:
    admin, _ = token_client(role=roles.ADMIN)
    for dataset in (two_stewards["mine"], two_stewards["theirs"]):
        response = admin.patch(f"{DATASETS}/{dataset.public_id}/", {"description": "by admin"}, format="json")
        assert response.status_code == 200, response.content
        dataset.refresh_from_db()
        assert dataset.description == "by admin"


def test_the_admin_change_view_is_editable_only_for_a_stewarded_dataset(
    two_stewards: dict[str, Any], client: Client
) -> None:
    client.force_login(two_stewards["steward"])
    mine, theirs = two_stewards["mine"], two_stewards["theirs"]
    own_page = client.get(f"/admin/catalog/dataset/{mine.pk}/change/")
    assert own_page.status_code == 200
    assert 'name="_save"' in own_page.content.decode()
    other_page = client.get(f"/admin/catalog/dataset/{theirs.pk}/change/")
    assert other_page.status_code in (200, 403)
    assert 'name="_save"' not in other_page.content.decode()
    posted = client.post(f"/admin/catalog/dataset/{theirs.pk}/change/", {"description": "hijacked"})
    assert posted.status_code == 403
    theirs.refresh_from_db()
    assert theirs.description == "theirs"


def test_an_admin_sees_every_dataset_change_view_editable(
    two_stewards: dict[str, Any], client: Client, make_user: Callable[..., Any]
) -> None:
    client.force_login(make_user(role=roles.ADMIN, is_staff=True))
    for dataset in (two_stewards["mine"], two_stewards["theirs"]):
        page = client.get(f"/admin/catalog/dataset/{dataset.pk}/change/")
        assert page.status_code == 200
        assert 'name="_save"' in page.content.decode()


@pytest.fixture
def two_responders(token_client: Callable[..., Any]) -> dict[str, Any]:
    client, me = token_client(role=roles.ONCALL_ENGINEER)
    _, other = token_client(role=roles.ONCALL_ENGINEER)
    phone = ContactMethod.objects.create(user=other, kind="sms", label="mobile", address=PHONE)
    rule = NotificationRule.objects.create(user=other, contact_method=phone, delay_minutes=5)
    return {"client": client, "me": me, "other": other, "phone": phone, "rule": rule}


def test_a_responder_cannot_read_or_change_anothers_contact_method(two_responders: dict[str, Any]) -> None:
    client, phone = two_responders["client"], two_responders["phone"]
    base = "/api/v1/oncall/contact-methods"
    listed = client.get(f"{base}/")
    assert listed.status_code == 200
    assert str(phone.public_id) not in listed.content.decode()
    assert PHONE not in listed.content.decode()
    answers = [
        client.get(f"{base}/{phone.public_id}/"),
        client.patch(f"{base}/{phone.public_id}/", {"address": "+15550100000"}, format="json"),
        client.delete(f"{base}/{phone.public_id}/"),
    ]
    assert [r.status_code for r in answers] == [404, 404, 404]
    assert all(PHONE not in r.content.decode() for r in answers)
    phone.refresh_from_db()
    assert phone.address == PHONE


def test_a_responder_cannot_read_or_change_anothers_notification_rule(two_responders: dict[str, Any]) -> None:
    client, rule = two_responders["client"], two_responders["rule"]
    base = "/api/v1/oncall/notification-rules"
    assert str(rule.public_id) not in client.get(f"{base}/").content.decode()
    answers = [
        client.get(f"{base}/{rule.public_id}/"),
        client.patch(f"{base}/{rule.public_id}/", {"delay_minutes": 0}, format="json"),
        client.delete(f"{base}/{rule.public_id}/"),
    ]
    assert [r.status_code for r in answers] == [404, 404, 404]
    rule.refresh_from_db()
    assert rule.delay_minutes == 5


def test_a_responder_cannot_reveal_or_delete_anothers_phone_in_the_portal(
    two_responders: dict[str, Any], client: Client
) -> None:
    client.force_login(two_responders["me"])
    phone = two_responders["phone"]
    for action in ("reveal", "delete"):
        response = client.post(f"/oncall/me/contact/methods/{phone.public_id}/{action}/")
        assert response.status_code in (403, 404)
        assert PHONE not in response.content.decode()
    assert ContactMethod.objects.filter(pk=phone.pk).exists()


def test_an_integrator_follows_only_the_requests_it_filed(token_client: Callable[..., Any]) -> None:
    filer, _ = token_client(role=roles.INTEGRATOR)
    body = {"kind": "email", "value": "ana@example.com", "request_type": "ccpa.delete", "jurisdiction": "US-CA"}
    created = filer.post("/api/v1/privacy/requests/", body, format="json")
    assert created.status_code == 201, created.content
    url = f"/api/v1/privacy/requests/{created.json()['id']}/"
    assert filer.get(url).status_code == 200
    another, _ = token_client(role=roles.INTEGRATOR)
    refused = another.get(url)
    assert refused.status_code == 404
    assert set(refused.json()) == {"code", "detail", "fields"}
    compliance, _ = token_client(role=roles.COMPLIANCE_OFFICER)
    assert compliance.get(url).status_code == 200


def test_an_integrator_cannot_open_the_privacy_pages(client: Client, make_user: Callable[..., Any]) -> None:
    client.force_login(make_user(role=roles.INTEGRATOR))
    assert client.get("/privacy/").status_code == 403
    assert client.get(f"/privacy/packages/{uuid.uuid4()}/download/").status_code == 403
    assert 'href="/privacy/"' not in client.get("/").content.decode()
