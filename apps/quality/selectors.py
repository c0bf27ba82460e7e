"""Read-side queries of data quality."""

from __future__ import annotations

from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery

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


def latest_counted_scan(value: str = "pk", *, scored: bool = False) -> Subquery:
    """Per outer dataset (``OuterRef("pk")``), ``value`` of its latest finished scan that counts in scores (test runs
    do not); with ``scored``, of the latest one that has a quality score."""
    scans = QualityScan.objects.filter(dataset_id=OuterRef("pk"), state=ScanState.SUCCEEDED).exclude(
        trigger=ScanTrigger.TEST
    )
    if scored:
        scans = scans.filter(quality_score__isnull=False)
    return Subquery(scans.order_by("-finished_at", "-pk").values(value)[:1])


def dataset_quality_list() -> QuerySet[Dataset]:
    """Datasets that have quality rules, by name, with their rule counts (all, enabled, failing, warning), schedule,
    and the id of their latest counted scan (``latest_scan_pk``; see ``attach_latest_scans``)."""
    enabled = Q(quality_rules__enabled=True)
    return (
        Dataset.objects.filter(pk__in=QualityRule.objects.values("dataset_id"))
        .select_related("quality_schedule__periodic_task")
        .annotate(
            rules=Count("quality_rules"),
            enabled_rules=Count("quality_rules", filter=enabled),
            failing_rules=Count("quality_rules", filter=enabled & Q(quality_rules__last_outcome=Outcome.FAIL)),
            warning_rules=Count("quality_rules", filter=enabled & Q(quality_rules__last_outcome=Outcome.WARN)),
            latest_scan_pk=latest_counted_scan(),
        )
        .order_by("name", "pk")
    )


def attach_latest_scans(datasets: list[Dataset]) -> list[Dataset]:
    """Load the latest scans of datasets from ``dataset_quality_list()`` in one query (``dataset.latest_scan``)."""
    wanted = [getattr(d, "latest_scan_pk", None) for d in datasets]
    scans = QualityScan.objects.in_bulk([pk for pk in wanted if pk is not None])
    for dataset, pk in zip(datasets, wanted, strict=True):
        setattr(dataset, "latest_scan", scans.get(pk) if pk is not None else None)  # noqa: B010 - not a model field
    return datasets
