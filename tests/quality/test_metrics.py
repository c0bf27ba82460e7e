"""Data quality on ``/metrics``: scans by outcome, rules by last outcome and failing by severity, score histograms."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.catalog.models import Dataset
from apps.quality.models import QualityRule, QualityScan
from tests.common.test_metrics import value

pytestmark = pytest.mark.django_db


def test_scans_rules_and_scores(client: Client) -> None:
    now = timezone.now()
    orders = Dataset.objects.create(namespace="file:///lake", name="raw/orders")
    customers = Dataset.objects.create(namespace="file:///lake", name="raw/customers")
    for dataset, state, quality, trust, age in (
        (orders, "succeeded", 60.0, 55.0, 2),  # older: superseded by the next scan of orders
        (orders, "succeeded", 97.0, 92.0, 1),
        (orders, "failed", None, None, 0),
        (customers, "succeeded", 85.0, 75.0, 1),
        (customers, "queued", None, None, 0),
    ):
        QualityScan.objects.create(
            dataset=dataset, state=state, quality_score=quality, trust_score=trust,
            finished_at=None if state == "queued" else now - timedelta(hours=age),
        )  # fmt: skip
    for name, outcome, severity in (("a", "FAIL", "critical"), ("b", "FAIL", "warning"), ("c", "PASS", "error")):
        QualityRule.objects.create(
            dataset=orders, name=name, kind="not_null", columns=["order_id"], severity=severity, last_outcome=outcome
        )
    QualityRule.objects.create(
        dataset=orders, name="d", kind="not_null", columns=["x"], last_outcome="FAIL", enabled=False
    )
    QualityRule.objects.create(dataset=customers, name="e", kind="not_null", columns=["email"])

    assert value(client, "ecap_quality_scans_total", outcome="succeeded") == 3.0
    assert value(client, "ecap_quality_scans_total", outcome="failed") == 1.0
    assert value(client, "ecap_quality_rules", outcome="FAIL") == 2.0  # the disabled rule is not counted
    assert value(client, "ecap_quality_rules", outcome="none") == 1.0
    assert value(client, "ecap_quality_rules_failing", severity="critical") == 1.0
    assert value(client, "ecap_quality_rules_failing", severity="warning") == 1.0
    assert value(client, "ecap_quality_rules_failing", severity="error") == 0.0
    # Latest counted scan per dataset: orders 97/92, customers 85/75.
    assert value(client, "ecap_quality_dataset_quality_score_count") == 2.0
    assert value(client, "ecap_quality_dataset_quality_score_bucket", le="90.0") == 1.0
    assert value(client, "ecap_quality_dataset_quality_score_sum") == pytest.approx(182.0)
    assert value(client, "ecap_quality_dataset_trust_score_bucket", le="70.0") == 0.0
    assert value(client, "ecap_quality_dataset_trust_score_bucket", le="80.0") == 1.0
    assert value(client, "ecap_quality_dataset_trust_score_bucket", le="95.0") == 2.0
