"""PII review: suggestions from a scan's findings, and stewards' decisions on them. Part of the public surface.

A suggestion says a field holds a data category, why (detector, share of matching values, name hint) and how sure
the scan is. Its *evidence* fingerprint keeps the detector, the name hint and coarse bands of ratio and confidence,
so a re-scan with slightly different numbers is the same evidence. A rejection is remembered per (field, category,
evidence): the same evidence is not suggested again, different evidence is. A field that already carries the
category in its own right (or a broader or narrower one of the same branch) gets no suggestion.

Every decision runs under row locks on the suggestions, writes its audit event in the same transaction, and an
accepted category becomes a ``FieldCategory`` (``source=suggestion``) that propagates downstream.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.choices import AuditAction
from apps.catalog.auditing import audit_decision
from apps.catalog.choices import CategorySource, SuggestionStatus
from apps.catalog.models import DataCategory, Dataset, Field, FieldCategory, PiiSuggestion
from apps.catalog.selectors import category_covers
from apps.catalog.stewardship import can_steward
from apps.common.errors import Conflict, PermissionDenied
from apps.common.models import User

# Lower bounds of the bands; a value belongs to the highest bound it reaches.
RATIO_BANDS = (0.0, 0.1, 0.3, 0.5, 0.8, 0.95)
CONFIDENCE_BANDS = (0.0, 0.3, 0.5, 0.7, 0.9)


def _band(value: float, bands: tuple[float, ...]) -> float:
    return bands[max(0, bisect.bisect_right(bands, value) - 1)]


def evidence_fingerprint(*, detector: str, ratio: float, confidence: float, name_hint: bool) -> str:
    """The evidence of a finding, coarse enough that sampling noise does not change it (``email/r0.95/c0.9/h``)."""
    hint = "h" if name_hint else "-"
    text = f"{detector[:30]}/r{_band(ratio, RATIO_BANDS):g}/c{_band(confidence, CONFIDENCE_BANDS):g}/{hint}"
    return text[:64]


@dataclass
class OfferReport:
    """What offering a dataset's findings did."""

    created: int = 0
    refreshed: int = 0
    superseded: int = 0
    skipped_known: int = 0
    skipped_rejected: int = 0
    unknown_categories: set[str] = field(default_factory=set)
    missing_fields: set[str] = field(default_factory=set)


def suggestions_offer(
    *, dataset: Dataset, columns: Iterable[Mapping[str, Any]], source_run: str = "", report: OfferReport | None = None
) -> OfferReport:
    """Turn a PII scan's findings on one dataset into pending suggestions (flagged findings only).

    ``columns`` are the scan summary's column entries (``column`` and its ``findings``). The caller holds the
    dataset's row lock, so two consumers never offer on the same dataset at once.
    """
    report = report or OfferReport()
    fields = {f.name: f for f in Field.objects.filter(dataset=dataset)}
    field_ids = [f.pk for f in fields.values()]
    own_keys: dict[int, set[str]] = {}
    for field_id, key in FieldCategory.objects.filter(field_id__in=field_ids, inherited_from__isnull=True).values_list(
        "field_id", "category__key"
    ):
        own_keys.setdefault(field_id, set()).add(key)
    rejected = set(
        PiiSuggestion.objects.filter(field_id__in=field_ids, status=SuggestionStatus.REJECTED).values_list(
            "field_id", "category_id", "evidence"
        )
    )
    pending = {
        (s.field_id, s.category_id): s
        for s in PiiSuggestion.objects.select_for_update().filter(
            field_id__in=field_ids, status=SuggestionStatus.PENDING
        )
    }
    wanted = {f.get("category") for c in columns for f in c.get("findings", []) if f.get("flagged")}
    categories = {c.key: c for c in DataCategory.objects.filter(key__in=[k for k in wanted if k])}
    for column in columns:
        row = fields.get(str(column.get("column", "")))
        flagged = [f for f in column.get("findings", []) if f.get("flagged")]
        if row is None:
            if flagged:
                report.missing_fields.add(str(column.get("column", ""))[:300])
            continue
        for finding in flagged:
            category = categories.get(str(finding.get("category") or ""))
            if category is None:
                report.unknown_categories.add(str(finding.get("category"))[:200])
                continue
            if any(
                category_covers(k, category.key) or category_covers(category.key, k) for k in own_keys.get(row.pk, ())
            ):
                report.skipped_known += 1
                continue
            confidence = min(1.0, max(0.0, float(finding.get("confidence") or 0.0)))
            ratio = min(1.0, max(0.0, float(finding.get("ratio") or 0.0)))
            detector = str(finding.get("detector") or "")[:50]
            evidence = evidence_fingerprint(
                detector=detector, ratio=ratio, confidence=confidence, name_hint=bool(finding.get("name_hint"))
            )
            if (row.pk, category.pk, evidence) in rejected:
                report.skipped_rejected += 1
                continue
            values = {
                "detector": detector,
                "confidence": confidence,
                "ratio": ratio,
                "matched": max(0, int(finding.get("matched") or 0)),
                "sampled": max(0, int(finding.get("sampled") or 0)),
                "name_hint": bool(finding.get("name_hint")),
                "reason": str(finding.get("reason") or "")[:2000],
                "evidence": evidence,
                "source_run": source_run[:100],
            }
            current = pending.get((row.pk, category.pk))
            if current is not None and current.evidence == evidence:
                # The same evidence again: fresher figures on the same suggestion, no second one.
                for name, value in values.items():
                    setattr(current, name, value)
                current.save(update_fields=list(values))
                report.refreshed += 1
                continue
            if current is not None:
                current.status = SuggestionStatus.SUPERSEDED
                current.save(update_fields=["status"])
                report.superseded += 1
            try:
                with transaction.atomic():
                    pending[(row.pk, category.pk)] = PiiSuggestion.objects.create(
                        field=row, category=category, **values
                    )
                report.created += 1
            except IntegrityError:  # a pending one appeared meanwhile (another consumer); theirs stands
                report.refreshed += 1
    return report


@dataclass
class DecisionReport:
    """The outcome of a (bulk) decision: what was decided, and what was skipped and why."""

    decided: list[PiiSuggestion] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # public id → reason


def _decide(*, ids: list[int], actor: User, accept: bool, note: str) -> DecisionReport:
    from apps.catalog.propagation import propagate_origins
    from apps.catalog.services import dataset_pii_status_refresh

    report = DecisionReport()
    now = timezone.now()
    origins: list[int] = []
    datasets: set[int] = set()
    with transaction.atomic():
        locked = list(
            PiiSuggestion.objects.select_for_update(of=("self",))
            .select_related("field__dataset", "category")
            .filter(pk__in=ids)
            .order_by("pk")
        )
        for suggestion in locked:
            key = str(suggestion.public_id)
            if suggestion.status != SuggestionStatus.PENDING:
                report.skipped[key] = f"already {suggestion.status}"
                continue
            if not can_steward(user=actor, dataset=suggestion.field.dataset):
                report.skipped[key] = "not a steward of the dataset"
                continue
            suggestion.status = SuggestionStatus.ACCEPTED if accept else SuggestionStatus.REJECTED
            suggestion.reviewed_by, suggestion.reviewed_at, suggestion.review_note = actor, now, note[:2000]
            suggestion.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
            details: dict[str, Any] = {
                "decision": suggestion.status,
                "dataset": suggestion.field.dataset.qualified_name,
                "field": suggestion.field.name,
                "category": suggestion.category.key,
                "detector": suggestion.detector,
                "confidence": suggestion.confidence,
                "evidence": suggestion.evidence,
            }
            if accept:
                link, created = FieldCategory.objects.get_or_create(
                    field=suggestion.field,
                    category=suggestion.category,
                    inherited_from=None,
                    defaults={"source": CategorySource.SUGGESTION, "created_by": actor},
                )
                if created:
                    origins.append(link.pk)
                details["field_category_created"] = created
            audit_decision(
                action=AuditAction.APPROVE if accept else AuditAction.DENY,
                target=suggestion,
                actor=actor,
                details=details | ({"note": note[:500]} if note else {}),
            )
            datasets.add(suggestion.field.dataset_id)
            report.decided.append(suggestion)
        if origins:
            propagate_origins(origin_ids=origins)
        dataset_pii_status_refresh(dataset_ids=datasets)
    return report


def _single(suggestion: PiiSuggestion, report: DecisionReport) -> PiiSuggestion:
    reason = report.skipped.get(str(suggestion.public_id))
    if reason is None:
        return report.decided[0]
    if reason.startswith("not a steward"):
        raise PermissionDenied(
            "Only the stewards and owners of the dataset (or an administrator) decide on its suggestions.",
            code="not_dataset_steward",
        )
    raise Conflict(f"The suggestion is {reason}.", code="suggestion_decided")


def pii_suggestion_accept(*, suggestion: PiiSuggestion, actor: User, note: str = "") -> PiiSuggestion:
    """Accept a pending suggestion: the field carries the category (``source=suggestion``), which propagates."""
    return _single(suggestion, _decide(ids=[suggestion.pk], actor=actor, accept=True, note=note))


def pii_suggestion_reject(*, suggestion: PiiSuggestion, actor: User, note: str = "") -> PiiSuggestion:
    """Reject a pending suggestion; the same evidence will not be suggested again for this field and category."""
    return _single(suggestion, _decide(ids=[suggestion.pk], actor=actor, accept=False, note=note))


def pii_suggestions_accept(*, suggestions: Iterable[PiiSuggestion], actor: User, note: str = "") -> DecisionReport:
    """Accept many suggestions in one transaction; those decided already or outside the actor's datasets are
    skipped (with the reason), never failing the rest."""
    return _decide(ids=[s.pk for s in suggestions], actor=actor, accept=True, note=note)


def pii_suggestions_reject(*, suggestions: Iterable[PiiSuggestion], actor: User, note: str = "") -> DecisionReport:
    """Reject many suggestions in one transaction (skips as ``pii_suggestions_accept``)."""
    return _decide(ids=[s.pk for s in suggestions], actor=actor, accept=False, note=note)
