"""The quality score and the trust score of a dataset, and its daily trend.

**Quality score** (0-100) of one scan: the severity-weighted share of rules that hold,

    quality = 100 * Σ weight(rule) * credit(outcome) / Σ weight(rule)

over the rules with an outcome (ERROR rules are left out: a broken rule says nothing about the data). Weights:
critical 8, error 4, warning 2, info 1. Credit: PASS 1, WARN 0.5, FAIL 0. No scored rule: no score.

**Trust score** (0-100) adds what the rules alone do not see:

- *freshness*: the dataset's freshness rules (PASS 100, WARN 50, FAIL 0) when it has any, else its age against the
  catalog's freshness SLA (100 within the SLA, falling linearly to 0 at twice the SLA);
- *upstream health*: the latest quality scores of the datasets it is built from, up to ``UPSTREAM_HOPS`` hops up
  the lineage graph, each weighted 1/hops (a direct input counts most).

    trust = (0.6 * quality + 0.2 * freshness + 0.2 * upstream) / (sum of the weights of the parts that are known)

A part that cannot be known (no freshness rule and no SLA, no scored upstream dataset) is left out and the weights
of the others renormalised, so a dataset is never punished for lacking an input.

**Trend**: one row per dataset and UTC day with the day's last scores and rule counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.catalog.models import Dataset
from apps.quality.choices import SEVERITY_WEIGHTS, Outcome, RuleKind, RuleSeverity

CREDIT = {Outcome.PASS: 1.0, Outcome.WARN: 0.5, Outcome.FAIL: 0.0}
TRUST_WEIGHTS = {"quality": 0.6, "freshness": 0.2, "upstream": 0.2}
UPSTREAM_HOPS = 3


class Scored(Protocol):
    """What the scores read of a result."""

    outcome: str
    severity: str
    kind: str


def quality_score(results: Iterable[Scored]) -> float | None:
    """The severity-weighted score of one scan's results (None when no rule has an outcome)."""
    total = earned = 0.0
    for result in results:
        if result.outcome not in CREDIT:
            continue
        weight = SEVERITY_WEIGHTS.get(RuleSeverity(result.severity), 1)
        total += weight
        earned += weight * CREDIT[Outcome(result.outcome)]
    return round(100 * earned / total, 2) if total else None


def freshness_score(dataset: Dataset, results: Sequence[Scored], *, now: datetime | None = None) -> float | None:
    """Freshness from the scan's freshness rules, else from the catalog's SLA; None when neither is known."""
    fresh = [r for r in results if r.kind == RuleKind.FRESHNESS and r.outcome in CREDIT]
    if fresh:
        return round(100 * min(CREDIT[Outcome(r.outcome)] for r in fresh), 2)
    if dataset.freshness_sla_hours and dataset.last_modified_at:
        age_hours = ((now or timezone.now()) - dataset.last_modified_at).total_seconds() / 3600
        sla = float(dataset.freshness_sla_hours)
        if age_hours <= sla:
            return 100.0
        return round(max(0.0, 100 * (1 - (age_hours - sla) / sla)), 2)
    return None


def upstream_datasets(dataset_id: int, *, hops: int = UPSTREAM_HOPS) -> dict[int, int]:
    """The datasets this one is built from, up to ``hops`` lineage hops up: {dataset id: nearest hop}."""
    from apps.lineage.selectors import dataset_neighbours

    return dataset_neighbours(dataset_ids=[dataset_id], direction="upstream", hops=hops)


def latest_quality_scores(dataset_ids: Iterable[int]) -> dict[int, float]:
    """The quality score of each dataset's latest finished, scored scan (one row per dataset is read)."""
    from apps.quality.selectors import latest_counted_scan

    ids = list(dataset_ids)
    if not ids:
        return {}
    rows = (
        Dataset.objects.filter(pk__in=ids)
        .annotate(score=latest_counted_scan("quality_score", scored=True))
        .values_list("pk", "score")
    )
    return {pk: score for pk, score in rows if score is not None}


def upstream_score(dataset: Dataset) -> tuple[float | None, dict[str, Any]]:
    """The 1/hops-weighted mean of upstream datasets' latest quality scores, with what went into it."""
    hops = upstream_datasets(dataset.pk)
    scores = latest_quality_scores(hops)
    if not scores:
        return None, {"upstream": len(hops), "scored": 0}
    weights = {pk: 1 / hops[pk] for pk in scores}
    value = sum(scores[pk] * w for pk, w in weights.items()) / sum(weights.values())
    names = dict(Dataset.objects.filter(pk__in=scores).values_list("pk", "name"))
    worst = min(scores, key=lambda pk: scores[pk])
    return round(value, 2), {
        "upstream": len(hops),
        "scored": len(scores),
        "worst": {"dataset": names.get(worst, ""), "quality": scores[worst], "hops": hops[worst]},
    }


def trust_score(
    dataset: Dataset, quality: float | None, results: Sequence[Scored], *, now: datetime | None = None
) -> tuple[float | None, dict[str, Any]]:
    """The trust score and its parts (each part None when unknown)."""
    freshness = freshness_score(dataset, results, now=now)
    upstream, upstream_details = upstream_score(dataset)
    parts = {"quality": quality, "freshness": freshness, "upstream": upstream}
    known = {name: value for name, value in parts.items() if value is not None}
    if not known:
        return None, {"parts": parts, "upstream_details": upstream_details}
    weight = sum(TRUST_WEIGHTS[name] for name in known)
    value = sum(TRUST_WEIGHTS[name] * v for name, v in known.items()) / weight
    return round(value, 2), {"parts": parts, "weights": TRUST_WEIGHTS, "upstream_details": upstream_details}


def daily_record(
    *,
    dataset: Dataset,
    day: date,
    quality: float | None,
    trust: float | None,
    outcomes: dict[str, int],
    rows_scanned: int | None,
) -> None:
    """Fold one scored scan into the dataset's row of the day (its last scores, its rule counts; scans counted)."""
    from apps.quality.models import DatasetQualityDaily

    values = {
        "quality_score": quality,
        "trust_score": trust,
        "passed": outcomes.get(Outcome.PASS, 0),
        "warned": outcomes.get(Outcome.WARN, 0),
        "failed": outcomes.get(Outcome.FAIL, 0),
        "errored": outcomes.get(Outcome.ERROR, 0),
        "rows_scanned": rows_scanned,
    }
    with transaction.atomic():
        row, created = DatasetQualityDaily.objects.select_for_update().get_or_create(
            dataset=dataset, day=day, defaults={**values, "scans": 1}
        )
        if not created:
            DatasetQualityDaily.objects.filter(pk=row.pk).update(scans=F("scans") + 1, **values)
