"""Planning from the catalog and lineage: where the subject is found (its keys), downstream copies, the action per
dataset by the right exercised, legal holds that turn deletion into anonymisation, strategies per category."""

from __future__ import annotations

import pytest

from apps.catalog.models import DataCategory, RetentionPolicy
from apps.catalog.services import field_category_add
from apps.common.errors import Conflict
from apps.privacy.choices import RequestStatus
from apps.privacy.models import DataSubjectRequest
from apps.privacy.planning import plan_approve, plan_build, plan_item_exclude
from apps.privacy.requests import request_create, request_transition
from apps.privacy.services import subject_identity_add
from tests.catalog.factories import DatasetFactory, FieldFactory, dataset_edge

pytestmark = pytest.mark.django_db


@pytest.fixture
def lake() -> dict[str, object]:
    transactions = RetentionPolicy.objects.get(name="transactions")
    customers = DatasetFactory(name="raw/customers")
    orders = DatasetFactory(name="raw/orders", retention_policy=transactions)
    rfm = DatasetFactory(name="analytics/rfm_segments")
    report = DatasetFactory(name="analytics/daily_report")
    FieldFactory(dataset=customers, name="customer_id", identity_kind="customer_id")
    email = FieldFactory(dataset=customers, name="email", identity_kind="email")
    postcode = FieldFactory(dataset=customers, name="postal_code")
    FieldFactory(dataset=orders, name="customer_id", identity_kind="customer_id")
    ip = FieldFactory(dataset=orders, name="ip_address")
    FieldFactory(dataset=rfm, name="customer_id", identity_kind="customer_id")
    FieldFactory(dataset=report, name="revenue")
    for field, key in ((email, "user.contact.email"), (postcode, "user.contact.address.postal_code"),
                       (ip, "user.device.ip_address")):  # fmt: skip
        field_category_add(field=field, category=DataCategory.objects.get(key=key), actor=None)
    dataset_edge(customers, rfm)
    dataset_edge(orders, report)
    return {"customers": customers, "orders": orders}


def verified(request_type: str) -> DataSubjectRequest:
    request = request_create(kind="email", value="ana@example.com", request_type=request_type, channel="web")
    subject_identity_add(subject=request.subject, kind="customer_id", value="c-42")
    for status in (RequestStatus.IDENTITY_PENDING, RequestStatus.VERIFIED):
        request = request_transition(request=request, status=status, actor=None)
    return request


def test_an_erasure_deletes_where_it_may_anonymises_under_a_legal_hold_and_flags_unmapped_copies(
    lake: dict[str, object], make_user
) -> None:
    plan = plan_build(request=verified("gdpr.erasure"), actor=None)
    items = {i["dataset"]: i for i in plan.items}
    assert items["raw/customers"]["action"] == "delete"
    assert items["raw/customers"]["keys"] == {"customer_id": "customer_id", "email": "email"}
    assert items["raw/orders"]["action"] == "anonymise"  # orders are kept for tax
    assert items["raw/orders"]["hold"] is True
    assert items["raw/orders"]["fields"] == {"customer_id": "hash", "ip_address": "mask"}
    assert items["analytics/rfm_segments"]["action"] == "delete"
    assert items["analytics/rfm_segments"]["hops"] == 0  # it has its own customer_id: found directly
    assert items["analytics/daily_report"]["action"] == "review"  # downstream, but no way to find the subject
    assert items["analytics/daily_report"]["hops"] == 1
    with pytest.raises(Conflict) as error:
        plan_approve(request=plan.request, actor=make_user(role="compliance_officer"))
    assert error.value.code == "plan_unmapped"


def test_an_access_request_exports_with_the_personal_fields_and_restriction_needs_no_lake_work(
    lake: dict[str, object], make_user
) -> None:
    plan = plan_build(request=verified("gdpr.access"), actor=None)
    customers = next(i for i in plan.items if i["dataset"] == "raw/customers")
    assert customers["action"] == "export"
    assert customers["fields"]["postal_code"] == "postal_prefix"
    assert plan_build(request=verified("gdpr.restriction"), actor=None).items == []
    unverified = request_create(kind="email", value="bob@example.com", request_type="gdpr.erasure", channel="web")
    with pytest.raises(Conflict):
        plan_build(request=unverified, actor=None)


def test_a_subject_known_by_email_alone_is_found_by_the_customer_id_the_lake_resolves(
    lake: dict[str, object], make_user
) -> None:
    request = request_create(kind="email", value="eve@example.com", request_type="gdpr.erasure", channel="web")
    for status in (RequestStatus.IDENTITY_PENDING, RequestStatus.VERIFIED):
        request = request_transition(request=request, status=status, actor=None)
    items = {i["dataset"]: i for i in plan_build(request=request, actor=None).items}
    assert items["raw/orders"]["keys"] == {"customer_id": "customer_id"}  # resolved through raw/customers
    assert "resolved from the subject's identities" in items["raw/orders"]["reason"]
    assert items["raw/customers"]["keys"] == {"customer_id": "customer_id", "email": "email"}
    assert "resolved" not in items["raw/customers"]["reason"] or "customer_id" in items["raw/customers"]["reason"]


def test_a_copy_outside_the_lake_is_reviewed_and_excluded_with_its_reason_before_approval(
    lake: dict[str, object], make_user
) -> None:
    officer = make_user(role="compliance_officer")
    outside = DatasetFactory(namespace="s3://crm-exports", name="crm/audience")
    FieldFactory(dataset=outside, name="customer_id", identity_kind="customer_id")
    dataset_edge(lake["customers"], outside)
    request = verified("gdpr.erasure")
    items = {i["dataset"]: i for i in plan_build(request=request, actor=None).items}
    assert items["crm/audience"]["action"] == "review"
    assert "outside the lake" in items["crm/audience"]["reason"]
    with pytest.raises(Conflict):
        plan_item_exclude(request=request, dataset="crm/audience", reason=" ", actor=officer)
    for name in ("crm/audience", "analytics/daily_report"):
        plan_item_exclude(request=request, dataset=name, reason="erased by the CRM team", actor=officer)
    with pytest.raises(Conflict) as not_review:
        plan_item_exclude(request=request, dataset="raw/orders", reason="no", actor=officer)
    assert not_review.value.code == "not_in_review"
    plan = plan_approve(request=request, actor=officer)
    assert {i["dataset"]: i["action"] for i in plan.items}["crm/audience"] == "excluded"
    assert request.timeline.filter(kind="plan_excluded").count() == 2
