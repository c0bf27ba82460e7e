"""Read-side queries of data quality."""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from apps.catalog.models import Dataset
from apps.quality.choices import Outcome, ScanState, ScanTrigger
from apps.quality.models import DatasetQualityDaily, QualityResult, QualityRule, QualityScan


def rule_list() -> QuerySet[QualityRule]:
    """Rules with their dataset, reference dataset and owner."""
    return QualityRule.objects.select_related("dataset", "reference_dataset", "owner").order_by("dataset__name", "name")


def scan_list() -> QuerySet[QualityScan]:
    """Scans, newest first, with their dataset, Spark run and requester."""
    return QualityScan.objects.select_related("dataset", "spark_run", "requested_by").order_by("-created_at", "-pk")


def result_list() -> QuerySet[QualityResult]:
    """Results with their scan and dataset (samples are loaded, encrypted, only when read)."""
    return (
        QualityResult.objects.select_related("scan", "scan__dataset", "rule")
        .defer("samples")
        .order_by("-scan__created_at", "rule_name")
    )


def latest_scan(*, dataset: Dataset, include_tests: bool = False) -> QualityScan | None:
    """The dataset's latest finished scan (test runs left out unless asked for)."""
    scans = QualityScan.objects.filter(dataset=dataset, state=ScanState.SUCCEEDED)
    if not include_tests:
        scans = scans.exclude(trigger=ScanTrigger.TEST)
    return (
        scans.select_related("spark_run")
        .prefetch_related(Prefetch("results", queryset=QualityResult.objects.defer("samples").select_related("rule")))
        .order_by("-finished_at", "-pk")
        .first()
    )


def daily_trend(*, dataset: Dataset, days: int = 90) -> list[DatasetQualityDaily]:
    """The dataset's daily quality rows of the last ``days`` days with a scan, oldest first."""
    rows = DatasetQualityDaily.objects.filter(dataset=dataset).order_by("-day")[:days]
    return list(reversed(list(rows)))


def dataset_quality_overview() -> list[dict[str, Any]]:
    """Per dataset with rules: rule counts, the latest scored scan's scores and outcome counts, failing rules."""
    datasets = (
        Dataset.objects.filter(quality_rules__isnull=False).distinct().order_by("name").only("pk", "name", "public_id")
    )
    newest = (
        QualityScan.objects.filter(dataset_id=OuterRef("pk"), state=ScanState.SUCCEEDED)
        .exclude(trigger=ScanTrigger.TEST)
        .order_by("-finished_at", "-pk")
        .values("pk")[:1]
    )
    latest_ids = datasets.annotate(latest_scan=Subquery(newest)).values_list("latest_scan", flat=True)
    latest = {
        scan.dataset_id: scan
        for scan in QualityScan.objects.filter(pk__in=[pk for pk in latest_ids if pk is not None]).only(
            "dataset_id", "public_id", "quality_score", "trust_score", "outcomes", "finished_at", "rows_scanned"
        )
    }
    counts: dict[int, dict[str, int]] = {}
    for rule in QualityRule.objects.filter(dataset__in=datasets).only("dataset_id", "enabled", "last_outcome"):
        entry = counts.setdefault(rule.dataset_id, {"rules": 0, "enabled": 0, "failing": 0, "warning": 0})
        entry["rules"] += 1
        entry["enabled"] += int(rule.enabled)
        entry["failing"] += int(rule.enabled and rule.last_outcome == Outcome.FAIL)
        entry["warning"] += int(rule.enabled and rule.last_outcome == Outcome.WARN)
    return [
        {"dataset": dataset, "latest": latest.get(dataset.pk), **counts.get(dataset.pk, {})} for dataset in datasets
    ]
