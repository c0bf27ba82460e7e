"""Failing-row samples: stored encrypted, personal columns masked for viewers who may not see them, and every
showing of personal values audited as a read."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection

from apps.audit.models import AuditEvent
from apps.catalog.models import Dataset
from apps.catalog.stewardship import dataset_role_assign
from apps.common.models import User
from apps.quality.choices import RuleKind
from apps.quality.models import QualityResult, QualityRule, QualityScan
from apps.quality.samples import MASK, samples_view
from apps.quality.services import rule_save, scan_request
from tests.quality.conftest import reported

pytestmark = pytest.mark.django_db


@pytest.fixture
def result(lake_datasets: dict[str, Dataset], finish: Callable[..., QualityScan]) -> QualityResult:
    customers = lake_datasets["raw/customers"]
    customers.fields.filter(name="email").update(identity_kind="email")
    rule_save(
        rule=QualityRule(
            dataset=customers, name="email-format", kind=RuleKind.REGEX, columns=["email"],
            params={"pattern": "^[^@]+@[^@]+$"}, warn_threshold=0.02,
        )
    )  # fmt: skip
    samples = [{"customer_id": "c-1", "email": "not-an-email"}, {"customer_id": "c-2", "email": "x@"}]
    scan = finish(
        scan_request(dataset=customers),
        {"rows_scanned": 2, "rules": [reported("email-format", "WARN", samples=samples)]},
    )
    return QualityResult.objects.get(scan=scan)


def reads() -> int:
    return AuditEvent.objects.filter(action="read", target_type="quality.qualityresult").count()


def test_samples_are_encrypted_at_rest(result: QualityResult) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT samples FROM quality_qualityresult WHERE id = %s", [result.pk])
        stored = cursor.fetchone()[0]
    assert "not-an-email" not in stored
    assert "c-1" not in stored


def test_personal_columns_are_masked_for_a_viewer_and_nothing_is_audited(
    result: QualityResult, make_user: Callable[..., User]
) -> None:
    auditor = make_user(role="auditor")
    view = samples_view(result=result, user=auditor)
    assert view.masked
    assert view.personal == ["email"]
    assert [r["email"] for r in view.rows] == [MASK, MASK]
    assert [r["customer_id"] for r in view.rows] == ["c-1", "c-2"]  # not personal in the catalog: shown
    assert reads() == 0


def test_the_datasets_steward_sees_them_and_the_read_is_audited(
    result: QualityResult, make_user: Callable[..., User]
) -> None:
    steward = make_user(role="data_steward", is_staff=True)
    dataset_role_assign(dataset=result.scan.dataset, user=steward, role="steward", actor=None)
    view = samples_view(result=result, user=steward)
    assert not view.masked
    assert view.rows[0]["email"] == "not-an-email"
    event = AuditEvent.objects.get(action="read", target_type="quality.qualityresult")
    assert event.details["fields"] == ["email"]
    assert event.details["rows"] == 2
    assert "not-an-email" not in str(event.details)
