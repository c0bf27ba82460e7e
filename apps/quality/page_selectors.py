"""Reads behind the data-quality pages (``/quality/``): the dashboard of every dataset with rules, and everything the
dataset quality page shows, each in a fixed number of queries however many rules, results, scans or days there are.

Built on the app's public reads (``apps.quality.selectors``); it writes nothing. Other apps keep using
``apps.quality.selectors``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from apps.catalog.models import Dataset
from apps.quality.choices import Outcome, ScanState
from apps.quality.models import DatasetQualityDaily, QualityResult, QualityRule, QualityScan, ScanSchedule
from apps.quality.scores import TRUST_WEIGHTS
from apps.quality.selectors import attach_latest_scans, daily_trend, dataset_quality_list, latest_scan

RECENT_SCANS = 20
TREND_DAYS = 90
# The page shows the samples of this many failing rules at most; each one shown unmasked is one audited read.
MAX_SAMPLE_SETS = 10
TRUST_PARTS = (
    ("quality", "Quality", "the latest scan's severity-weighted rule score"),
    ("freshness", "Freshness", "freshness rules, else the age of the data against its freshness SLA"),
    ("upstream", "Upstream", "latest quality of the datasets it is built from, nearer ones weighing more"),
)


@dataclass(frozen=True)
class DashboardRow:
    """One dataset of the dashboard: its latest scored scan and the rules failing or warning now."""

    dataset: Dataset
    latest: QualityScan | None
    rules: int
    enabled: int
    failing_rules: list[str]
    warning_rules: list[str]


def dashboard_rows() -> list[DashboardRow]:
    """Every dataset with rules, by name, with its scores, outcome counts and failing and warning rules."""
    datasets = attach_latest_scans(list(dataset_quality_list()))
    flagged: dict[int, dict[str, list[str]]] = {}
    rows = (
        QualityRule.objects.filter(enabled=True, last_outcome__in=[Outcome.FAIL, Outcome.WARN])
        .order_by("dataset_id", "name")
        .values_list("dataset_id", "name", "last_outcome")
    )
    for dataset_id, name, outcome in rows:
        flagged.setdefault(dataset_id, {}).setdefault(outcome, []).append(name)
    out = []
    for dataset in datasets:
        names = flagged.get(dataset.pk, {})
        out.append(
            DashboardRow(
                dataset=dataset,
                latest=getattr(dataset, "latest_scan", None),
                rules=getattr(dataset, "rules", 0),
                enabled=getattr(dataset, "enabled_rules", 0),
                failing_rules=names.get(Outcome.FAIL, []),
                warning_rules=names.get(Outcome.WARN, []),
            )
        )
    return out


@dataclass(frozen=True)
class TrustPart:
    """One part of the trust score as the page shows it (``value`` None: unknown, left out of the score)."""

    key: str
    label: str
    help: str
    value: float | None
    weight: float


@dataclass(frozen=True)
class DatasetQualityPage:
    """Everything the dataset quality page shows except what depends on the viewer (samples, links, buttons)."""

    dataset: Dataset
    rules: list[QualityRule]
    schedule: ScanSchedule | None
    latest: QualityScan | None
    results: list[QualityResult]
    trust_parts: list[TrustPart]
    upstream_details: dict[str, Any]
    trend: list[DatasetQualityDaily]
    scans: list[QualityScan]
    sample_results: list[QualityResult] = field(default_factory=list)
    samples_not_shown: int = 0

    @property
    def queued(self) -> bool:
        """Whether a scan of the dataset is waiting or running."""
        return any(scan.state == ScanState.QUEUED for scan in self.scans)

    @property
    def failing(self) -> int:
        return sum(1 for r in self.results if r.outcome == Outcome.FAIL)


def dataset_by_public_id(*, public_id: uuid.UUID) -> Dataset | None:
    """The dataset with this public id."""
    return Dataset.objects.filter(public_id=public_id).first()


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _trust_parts(scan: QualityScan | None) -> tuple[list[TrustPart], dict[str, Any]]:
    """The trust score's parts from the scan's ``score_details`` (a part missing from them is unknown)."""
    details = _mapping(scan.score_details if scan is not None else None)
    parts = _mapping(details.get("parts"))
    weights = _mapping(details.get("weights")) or dict(TRUST_WEIGHTS)
    out = []
    for key, label, help_text in TRUST_PARTS:
        value = parts.get(key)
        weight = weights.get(key, TRUST_WEIGHTS[key])
        out.append(
            TrustPart(
                key=key,
                label=label,
                help=help_text,
                value=float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None,
                weight=float(weight) if isinstance(weight, int | float) else TRUST_WEIGHTS[key],
            )
        )
    return out, _mapping(details.get("upstream_details"))


def _sample_results(scan: QualityScan, results: list[QualityResult]) -> tuple[list[QualityResult], int]:
    """The failing results of ``scan`` that kept samples, loaded with them (one query), and how many are left out."""
    wanted = [r for r in results if r.outcome == Outcome.FAIL and r.sample_count > 0]
    if not wanted:
        return [], 0
    loaded = list(
        QualityResult.objects.filter(scan=scan, outcome=Outcome.FAIL, sample_count__gt=0)
        .select_related("scan__dataset", "rule")
        .order_by("rule_name", "pk")[:MAX_SAMPLE_SETS]
    )
    return loaded, max(0, len(wanted) - len(loaded))


def dataset_quality_page(*, public_id: uuid.UUID) -> DatasetQualityPage | None:
    """The dataset quality page's content, or None when no dataset has this public id."""
    dataset = dataset_by_public_id(public_id=public_id)
    if dataset is None:
        return None
    rules = list(
        QualityRule.objects.filter(dataset=dataset).select_related("owner", "reference_dataset").order_by("name")
    )
    schedule = ScanSchedule.objects.filter(dataset=dataset).select_related("periodic_task").first()
    latest = latest_scan(dataset=dataset)
    results = list(latest.results.all()) if latest is not None else []
    if latest is not None:
        latest.dataset = dataset
    scans = list(
        QualityScan.objects.filter(dataset=dataset)
        .select_related("spark_run", "requested_by")
        .defer("rules", "score_details")
        .order_by("-created_at", "-pk")[:RECENT_SCANS]
    )
    parts, upstream = _trust_parts(latest)
    samples, not_shown = _sample_results(latest, results) if latest is not None else ([], 0)
    return DatasetQualityPage(
        dataset=dataset,
        rules=rules,
        schedule=schedule,
        latest=latest,
        results=results,
        trust_parts=parts,
        upstream_details=upstream,
        trend=daily_trend(dataset=dataset, days=TREND_DAYS),
        scans=scans,
        sample_results=samples,
        samples_not_shown=not_shown,
    )
