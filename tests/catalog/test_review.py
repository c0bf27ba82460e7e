"""PII review: suggestions from findings (deduplicated by evidence, remembered rejections, known categories),
decisions one by one and in bulk under row locks, stewards limited to their datasets, every decision audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.catalog.choices import CategorySource, PiiStatus, SuggestionStatus
from apps.catalog.models import DataCategory, FieldCategory, PiiSuggestion
from apps.catalog.review import (
    evidence_fingerprint,
    pii_suggestion_accept,
    pii_suggestion_reject,
    pii_suggestions_accept,
    pii_suggestions_reject,
    suggestions_offer,
)
from apps.catalog.services import field_category_add, field_category_remove
from apps.common.errors import Conflict, PermissionDenied
from apps.common.models import User
from tests.catalog.factories import DatasetFactory, FieldFactory, PiiSuggestionFactory

pytestmark = pytest.mark.django_db


def finding(ratio: float = 0.96, confidence: float = 0.97, hint: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "category": "user.contact.email", "detector": "email", "matched": int(ratio * 500), "sampled": 500,
        "ratio": ratio, "name_hint": hint, "confidence": confidence, "flagged": True,
        "reason": f"{ratio:.0%} of 500 sampled values are valid e-mail addresses", **extra,
    }  # fmt: skip


def offer(field: Any, *findings: dict[str, Any]) -> Any:
    return suggestions_offer(dataset=field.dataset, columns=[{"column": field.name, "findings": list(findings)}])


def test_small_noise_is_the_same_evidence_and_a_different_band_is_not() -> None:
    base = evidence_fingerprint(detector="email", ratio=0.96, confidence=0.97, name_hint=True)
    assert evidence_fingerprint(detector="email", ratio=0.98, confidence=0.99, name_hint=True) == base
    assert evidence_fingerprint(detector="email", ratio=0.6, confidence=0.97, name_hint=True) != base
    assert evidence_fingerprint(detector="email", ratio=0.96, confidence=0.97, name_hint=False) != base


def test_a_flagged_finding_becomes_one_pending_suggestion_and_a_rescan_refreshes_it() -> None:
    field = FieldFactory(name="email")
    report = offer(field, finding(), finding(category="user.name", detector="person_name", flagged=False))
    assert report.created == 1
    suggestion = PiiSuggestion.objects.get(field=field)
    assert (suggestion.category.key, suggestion.status, suggestion.evidence) == (
        "user.contact.email", SuggestionStatus.PENDING, "email/r0.95/c0.9/h",
    )  # fmt: skip
    assert offer(field, finding(ratio=0.97)).refreshed == 1
    assert PiiSuggestion.objects.filter(field=field).count() == 1
    assert PiiSuggestion.objects.get(field=field).ratio == 0.97


def test_a_rejection_is_remembered_for_the_same_evidence_but_new_evidence_is_suggested() -> None:
    field = FieldFactory(name="contact")
    steward = User.objects.create_user("admin-reviewer", is_superuser=True)
    offer(field, finding(ratio=0.35, confidence=0.6, hint=False))
    pii_suggestion_reject(suggestion=PiiSuggestion.objects.get(field=field), actor=steward, note="free text")
    assert offer(field, finding(ratio=0.36, confidence=0.61, hint=False)).skipped_rejected == 1
    assert not PiiSuggestion.objects.filter(field=field, status=SuggestionStatus.PENDING).exists()
    assert offer(field, finding(ratio=0.96, confidence=0.97, hint=False)).created == 1
    assert PiiSuggestion.objects.filter(field=field, status=SuggestionStatus.PENDING).count() == 1


def test_a_field_that_already_carries_the_category_gets_no_suggestion(category: Callable[[str], DataCategory]) -> None:
    field = FieldFactory(name="email")
    field_category_add(field=field, category=category("user.contact"), actor=None)
    assert offer(field, finding()).skipped_known == 1
    assert not PiiSuggestion.objects.filter(field=field).exists()


def test_accepting_tags_the_field_updates_the_dataset_and_is_audited(steward_of: Callable[..., User]) -> None:
    suggestion = PiiSuggestionFactory()
    dataset = suggestion.field.dataset
    steward = steward_of(dataset)
    accepted = pii_suggestion_accept(suggestion=suggestion, actor=steward, note="checked the column")
    assert accepted.status == SuggestionStatus.ACCEPTED
    assert accepted.reviewed_by == steward
    link = FieldCategory.objects.get(field=suggestion.field, inherited_from=None)
    assert (link.category.key, link.source, link.created_by) == (
        "user.contact.email",
        CategorySource.SUGGESTION,
        steward,
    )
    dataset.refresh_from_db()
    assert dataset.pii_status == PiiStatus.CONFIRMED
    event = AuditEvent.objects.get(action="approve", target_id=str(suggestion.public_id))
    assert event.actor_id == str(steward.public_id)
    assert event.details["category"] == "user.contact.email"
    with pytest.raises(Conflict):
        pii_suggestion_reject(suggestion=suggestion, actor=steward)


def test_a_steward_decides_only_on_the_datasets_they_steward(steward_of: Callable[..., User]) -> None:
    mine, theirs = PiiSuggestionFactory(), PiiSuggestionFactory()
    steward = steward_of(mine.field.dataset)
    with pytest.raises(PermissionDenied):
        pii_suggestion_accept(suggestion=theirs, actor=steward)
    report = pii_suggestions_reject(suggestions=[mine, theirs], actor=steward, note="not personal")
    assert [s.pk for s in report.decided] == [mine.pk]
    assert report.skipped == {str(theirs.public_id): "not a steward of the dataset"}
    theirs.refresh_from_db()
    assert theirs.status == SuggestionStatus.PENDING
    assert AuditEvent.objects.filter(action="deny", target_id=str(mine.public_id)).count() == 1


def test_bulk_accept_decides_each_once_and_skips_what_was_decided() -> None:
    admin = User.objects.create_user("bulk-admin", is_superuser=True)
    dataset = DatasetFactory()
    suggestions = [PiiSuggestionFactory(field=FieldFactory(dataset=dataset)) for _ in range(3)]
    pii_suggestion_reject(suggestion=suggestions[0], actor=admin)
    report = pii_suggestions_accept(suggestions=suggestions, actor=admin)
    assert len(report.decided) == 2
    assert report.skipped == {str(suggestions[0].public_id): "already rejected"}
    assert FieldCategory.objects.filter(field__dataset=dataset, source=CategorySource.SUGGESTION).count() == 2
    assert AuditEvent.objects.filter(action="approve", target_type="catalog.piisuggestion").count() == 2
    again = pii_suggestions_accept(suggestions=suggestions, actor=admin)
    assert again.decided == []


def test_removing_an_accepted_category_remembers_its_evidence_as_rejected() -> None:
    field = FieldFactory(name="contact")
    steward = User.objects.create_user("admin-remover", is_superuser=True)
    offer(field, finding(ratio=0.35, confidence=0.6, hint=False))
    suggestion = PiiSuggestion.objects.get(field=field)
    pii_suggestion_accept(suggestion=suggestion, actor=steward)
    field_category_remove(field=field, category=suggestion.category, actor=steward)
    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.reviewed_by) == (SuggestionStatus.REJECTED, steward)
    assert offer(field, finding(ratio=0.36, confidence=0.61, hint=False)).skipped_rejected == 1
    assert not FieldCategory.objects.filter(field=field).exists()
    assert offer(field, finding(ratio=0.96, confidence=0.97, hint=False)).created == 1
