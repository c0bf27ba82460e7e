"""Data-quality metrics on ``/metrics``, read from the database at scrape time so every process reports the same:
finished scans by outcome, enabled rules by their last outcome and failing rules by severity, and the datasets'
latest quality and trust scores as histograms.

Scores are histograms (how many datasets score at most 50, 80, 95…), not one gauge per dataset: the catalogue can
hold thousands of datasets and a per-dataset label would grow without bound. Which datasets score low is what the
portal's quality pages show.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import structlog
from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from apps.common.metrics import histogram_family, register

logger = structlog.get_logger(__name__)

SCANS = ("ecap_quality_scans", "Finished quality scans by outcome (succeeded, failed: the Spark job did not finish).")
RULES = ("ecap_quality_rules", "Enabled quality rules by their last outcome (none: not evaluated yet).")
FAILING = ("ecap_quality_rules_failing", "Enabled quality rules whose last outcome is FAIL, by severity.")
QUALITY = ("ecap_quality_dataset_quality_score", "Latest quality score (0-100) of each scanned dataset.")
TRUST = ("ecap_quality_dataset_trust_score", "Latest trust score (0-100) of each scanned dataset.")
SCORE_BUCKETS = (50.0, 70.0, 80.0, 90.0, 95.0, 99.0, 100.0)


class QualityCollector(Collector):
    """Scans, rules and score histograms."""

    def describe(self) -> Iterator[Any]:
        yield CounterMetricFamily(*SCANS, labels=["outcome"])
        yield GaugeMetricFamily(*RULES, labels=["outcome"])
        yield GaugeMetricFamily(*FAILING, labels=["severity"])
        yield HistogramMetricFamily(*QUALITY)
        yield HistogramMetricFamily(*TRUST)

    def collect(self) -> Iterator[Any]:
        from apps.catalog.models import Dataset
        from apps.quality.choices import Outcome, RuleSeverity, ScanState
        from apps.quality.models import QualityRule, QualityScan
        from apps.quality.selectors import latest_counted_scan

        try:
            scans = {
                row["state"]: row["n"]
                for row in QualityScan.objects.exclude(state=ScanState.QUEUED)
                .values("state")
                .annotate(n=Count("id"))
                .order_by()
            }
            enabled = QualityRule.objects.filter(enabled=True)
            rules = {
                row["last_outcome"]: row["n"]
                for row in enabled.values("last_outcome").annotate(n=Count("id")).order_by()
            }
            failing_rules = enabled.filter(last_outcome=Outcome.FAIL).values("severity").annotate(n=Count("id"))
            failing = {row["severity"]: row["n"] for row in failing_rules.order_by()}
            scores = list(
                Dataset.objects.filter(quality_scans__isnull=False)
                .distinct()
                .annotate(
                    quality=latest_counted_scan("quality_score", scored=True),
                    trust=latest_counted_scan("trust_score"),
                )
                .values_list("quality", "trust")
            )
        except Exception as exc:  # a scrape must never fail because the database does
            logger.warning("quality_metrics_unavailable", error=type(exc).__name__)
            return
        counter = CounterMetricFamily(*SCANS, labels=["outcome"])
        for state in (ScanState.SUCCEEDED, ScanState.FAILED):
            counter.add_metric([str(state)], scans.get(state, 0))
        yield counter
        by_outcome = GaugeMetricFamily(*RULES, labels=["outcome"])
        for outcome in Outcome.values:
            by_outcome.add_metric([outcome], rules.get(outcome, 0))
        by_outcome.add_metric(["none"], rules.get("", 0))
        yield by_outcome
        by_severity = GaugeMetricFamily(*FAILING, labels=["severity"])
        for severity in RuleSeverity.values:
            by_severity.add_metric([severity], failing.get(severity, 0))
        yield by_severity
        yield histogram_family(*QUALITY, SCORE_BUCKETS, {(): [q for q, _ in scores if q is not None]}, [])
        yield histogram_family(*TRUST, SCORE_BUCKETS, {(): [t for _, t in scores if t is not None]}, [])


def register_collector() -> None:
    """Register once per process."""
    register(QualityCollector())
