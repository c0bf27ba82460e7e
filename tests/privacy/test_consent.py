"""Subjects known by identities that are stored only encrypted and found by a keyed hash, and the consent ledger:
append-only events, the current state per purpose, checks that respect the taxonomy and restriction, history and
reports."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from apps.privacy.choices import ConsentAnswer, ConsentDecision, ConsentSource
from apps.privacy.identities import IdentityInvalid, identity_hash, identity_normalise
from apps.privacy.models import ConsentEvent, ConsentState, DataSubject, SubjectIdentity
from apps.privacy.services import (
    ConsentIn,
    ConsentInvalid,
    consent_check,
    consent_history,
    consent_record,
    consent_record_many,
    consent_report,
    subject_find,
    subject_for_identity,
    subject_restrict,
)

pytestmark = pytest.mark.django_db

MARKETING = "marketing.advertising.first_party.targeted"


def decide(value: str, purpose: str, decision: str, **kwargs: object) -> ConsentEvent:
    return consent_record(item=ConsentIn(kind="email", value=value, purpose=purpose, decision=decision, **kwargs))


@pytest.mark.parametrize(
    ("kind", "value", "normal"),
    [
        ("email", "  Ana.Silva@Example.COM ", "ana.silva@example.com"),
        ("phone", "+351 912-345-678", "+351912345678"),
        ("phone", "00351 912 345 678", "+351912345678"),
        ("customer_id", " c-00042 ", "c-00042"),
    ],
)
def test_identities_are_normalised_so_the_same_person_hashes_the_same(kind: str, value: str, normal: str) -> None:
    assert identity_normalise(kind, value) == normal
    assert identity_hash(kind, value) == identity_hash(kind, normal)


@pytest.mark.parametrize(
    ("kind", "value", "field"), [("email", "nope", "value"), ("fax", "1", "kind"), ("phone", "12", "value")]
)
def test_bad_identities_are_refused_naming_the_problem(kind: str, value: str, field: str) -> None:
    with pytest.raises(IdentityInvalid) as error:
        identity_normalise(kind, value)
    assert field in error.value.fields


def test_identity_values_are_never_stored_in_clear() -> None:
    subject = subject_for_identity(kind="email", value="ana@example.com")
    assert subject_for_identity(kind="email", value="ANA@example.com").pk == subject.pk
    assert subject_find(kind="email", value="ana@example.com") == subject
    assert subject_find(kind="email", value="bob@example.com") is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT value, value_hash FROM privacy_subjectidentity")
        stored = cursor.fetchall()
    assert len(stored) == 1
    assert "ana" not in stored[0][0]
    assert stored[0][1] == identity_hash("email", "ana@example.com")
    assert SubjectIdentity.objects.get().value == "ana@example.com"  # decrypted on read


def test_the_latest_decision_wins_even_when_events_arrive_out_of_order() -> None:
    now = timezone.now()
    decide("ana@example.com", MARKETING, ConsentDecision.OPT_IN, occurred_at=now - timedelta(days=2))
    decide("ana@example.com", MARKETING, ConsentDecision.OPT_OUT, occurred_at=now - timedelta(hours=1))
    decide("ana@example.com", MARKETING, ConsentDecision.OPT_IN, occurred_at=now - timedelta(days=1))  # a late import
    assert consent_check(kind="email", value="ana@example.com", purpose=MARKETING).answer == ConsentAnswer.DENIED
    assert ConsentEvent.objects.count() == 3
    assert ConsentState.objects.get().decision == ConsentDecision.OPT_OUT
    history = consent_history(subject=DataSubject.objects.get())
    assert [e.decision for e in history] == ["opt_in", "opt_in", "opt_out"]  # in the order the subject decided


def test_a_decision_on_a_parent_purpose_covers_its_children_and_the_most_specific_wins() -> None:
    decide("ana@example.com", "marketing", ConsentDecision.OPT_OUT)
    check = consent_check(kind="email", value="ana@example.com", purpose=MARKETING)
    assert (check.answer, check.decided_by) == (ConsentAnswer.DENIED, "marketing")
    decide("ana@example.com", MARKETING, ConsentDecision.OPT_IN)
    assert consent_check(kind="email", value="ana@example.com", purpose=MARKETING).answer == ConsentAnswer.GRANTED
    assert consent_check(kind="email", value="nobody@example.com", purpose=MARKETING).answer == ConsentAnswer.UNKNOWN


def test_a_restricted_subject_answers_restricted_to_every_check() -> None:
    decide("ana@example.com", MARKETING, ConsentDecision.OPT_IN)
    subject = subject_find(kind="email", value="ana@example.com")
    assert subject is not None
    subject_restrict(subject=subject, restricted=True, reason="accuracy contested (Art. 18(1)(a))")
    assert consent_check(kind="email", value="ana@example.com", purpose=MARKETING).answer == ConsentAnswer.RESTRICTED
    assert consent_check(kind="email", value="ana@example.com", purpose="analytics").answer == ConsentAnswer.RESTRICTED
    subject_restrict(subject=subject, restricted=False)
    assert consent_check(kind="email", value="ana@example.com", purpose=MARKETING).answer == ConsentAnswer.GRANTED


def test_the_ledger_is_append_only() -> None:
    event = decide("ana@example.com", MARKETING, ConsentDecision.OPT_IN)
    for statement in ("UPDATE privacy_consentevent SET decision = 'opt_out'", "DELETE FROM privacy_consentevent"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    event.refresh_from_db()
    assert event.decision == ConsentDecision.OPT_IN


def test_a_batch_is_all_or_nothing_and_names_the_bad_item() -> None:
    good = ConsentIn(kind="email", value="ana@example.com", purpose=MARKETING, decision="opt_in")
    bad = ConsentIn(kind="email", value="bob@example.com", purpose="no.such.use", decision="opt_in")
    with pytest.raises(ConsentInvalid) as error:
        consent_record_many(items=[good, bad])
    assert "1.purpose" in error.value.fields
    assert not ConsentEvent.objects.exists()
    assert len(consent_record_many(items=[good, good])) == 2


def test_proof_keeps_a_keyed_hash_of_the_ip_and_the_gpc_source() -> None:
    event = decide(
        "ana@example.com", MARKETING, ConsentDecision.OPT_OUT, source=ConsentSource.GPC, ip="203.0.113.7",
        user_agent="Mozilla/5.0",
    )  # fmt: skip
    assert event.ip_hash
    assert "203.0.113.7" not in event.ip_hash
    assert event.source == "gpc"


def test_the_report_counts_decisions_per_purpose_and_day() -> None:
    now = timezone.now()
    for value in ("a@example.com", "b@example.com"):
        decide(value, MARKETING, ConsentDecision.OPT_IN, occurred_at=now - timedelta(days=1))
    decide("c@example.com", MARKETING, ConsentDecision.OPT_OUT, occurred_at=now)
    rows = consent_report(since=now - timedelta(days=3), until=now + timedelta(minutes=1))
    counts = {(r["purpose"], r["decision"], r["day"]): r["count"] for r in rows}
    assert counts[(MARKETING, "opt_in", (now - timedelta(days=1)).date())] == 2
    assert counts[(MARKETING, "opt_out", now.date())] == 1
