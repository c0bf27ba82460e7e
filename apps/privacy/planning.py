"""Planning a request's execution from the catalog and lineage, for staff to review before it runs.

Where the subject is: every active dataset with a field whose identity kind is one the subject is known by, or can
be resolved to (``resolvable_kinds``: a dataset holding an e-mail and a customer id turns the e-mail into the customer
id that finds the orders; the jobs resolve the values before changing anything), and every dataset downstream of
those through lineage (up to ``DOWNSTREAM_HOPS`` hops). A downstream copy with no identity field of such a kind, or
outside the lake, is listed for review: a steward maps it (identity kinds in the catalog) or staff exclude it with
the reason (``plan_item_exclude``), which the certificate repeats. What is done, by the request's right:

- access, portability, know: **export** the rows;
- erasure, delete: **delete** the rows, unless the dataset is under a legal hold (a retention policy listed in
  ``privacy.legal_hold_policies``, e.g. orders kept for tax): then **anonymise** its personal fields;
- rectification, correct: **update** the fields the subject names (chosen when the plan is run);
- restriction, objection, opt-out, limit: nothing in the lake — the consent ledger answers "restricted" or
  "denied" — so the plan is empty.

Anonymisation strategies by data category: e-mail, identifiers and customer ids → keyed hash (joins still work, the
value is gone); names, addresses → null; phone, IP, device → mask; date of birth → year only; postal code → prefix;
anything else personal → null.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.catalog.models import Dataset, Field
from apps.catalog.services import PERSONAL_ROOT
from apps.common.errors import Conflict
from apps.common.models import User
from apps.configuration.services import config_get
from apps.lineage.selectors import dataset_neighbours
from apps.privacy.choices import RequestStatus
from apps.privacy.models import DataSubjectRequest, RequestEvent, RequestPlan
from spark.paths import normalize_root

DOWNSTREAM_HOPS = 5
EXPORT_RIGHTS = frozenset({"access", "portability", "know"})
ERASE_RIGHTS = frozenset({"erasure", "delete"})
UPDATE_RIGHTS = frozenset({"rectification", "correct"})
# The first matching category prefix decides the strategy of a field.
STRATEGIES = (
    ("user.contact.email", "hash"),
    ("user.unique_id", "hash"),
    ("user.account", "hash"),
    ("user.name", "nullify"),
    ("user.contact.address.postal_code", "postal_prefix"),
    ("user.contact.address", "nullify"),
    ("user.contact.phone_number", "mask"),
    ("user.device", "mask"),
    ("user.demographic.date_of_birth", "year_only"),
    ("user.demographic", "nullify"),
)
IDENTITY_STRATEGY = {"email": "hash", "customer_id": "hash", "phone": "mask"}


def _strategy(categories: list[str], identity_kind: str) -> str:
    for prefix, strategy in STRATEGIES:
        if any(c == prefix or c.startswith(prefix + ".") for c in categories):
            return strategy
    return IDENTITY_STRATEGY.get(identity_kind, "nullify")


def resolvable_kinds(known: set[str], by_dataset: dict[int, list[Field]]) -> set[str]:
    """The identity kinds a subject can be found by: those it is known by, and, transitively, the other identity
    kinds of every dataset that holds one of them (a customers table with e-mail and customer id turns an e-mail into
    the customer id that finds the orders). The jobs resolve the values the same way before they change anything."""
    kinds = set(known)
    grown = True
    while grown:
        grown = False
        for rows in by_dataset.values():
            present = {f.identity_kind for f in rows if f.identity_kind}
            if present & kinds and not present <= kinds:
                kinds |= present
                grown = True
    return kinds


def plan_items(request: DataSubjectRequest) -> list[dict[str, Any]]:
    """The plan of a request, built from the current catalog and lineage (not stored)."""
    right = request.request_type.partition(".")[2]
    if right not in EXPORT_RIGHTS | ERASE_RIGHTS | UPDATE_RIGHTS:
        return []
    kinds = set(request.subject.identities.values_list("kind", flat=True))
    fields = list(
        Field.objects.filter(dataset__is_active=True, is_active=True)
        .select_related("dataset", "dataset__retention_policy")
        .prefetch_related("category_links__category")
        .order_by("dataset__name", "ordinal")
    )
    by_dataset: dict[int, list[Field]] = {}
    for field in fields:
        by_dataset.setdefault(field.dataset_id, []).append(field)
    known = set(kinds)
    kinds = resolvable_kinds(known, by_dataset)
    located = {pk for pk, rows in by_dataset.items() if any(f.identity_kind in kinds for f in rows)}
    hops = dict.fromkeys(located, 0) | dataset_neighbours(
        dataset_ids=located, direction="downstream", hops=DOWNSTREAM_HOPS
    )
    holds = {str(p) for p in config_get("privacy.legal_hold_policies") or []}
    lake = normalize_root(str(config_get("lake.root")))
    datasets = {d.pk: d for d in Dataset.objects.filter(pk__in=hops).select_related("retention_policy")}
    items = []
    for pk in sorted(hops, key=lambda p: (hops[p], datasets[p].name)):
        dataset, rows = datasets[pk], by_dataset.get(pk, [])
        keys = {f.name: f.identity_kind for f in rows if f.identity_kind in kinds}
        personal = {
            f.name: _strategy([link.category.key for link in f.category_links.all()], f.identity_kind)
            for f in rows
            if f.identity_kind
            or any(link.category.key.startswith(PERSONAL_ROOT + ".") for link in f.category_links.all())
        }
        policy = dataset.retention_policy.name if dataset.retention_policy else ""
        hold = policy in holds
        if normalize_root(dataset.namespace) != lake:
            action, reason = "review", f"outside the lake ({dataset.namespace}): handled with its owner, then excluded"
        elif not keys:
            action, reason = "review", "a downstream copy without an identity field: map how the subject is found"
        elif right in EXPORT_RIGHTS:
            action, reason = "export", "the subject's rows are part of the package"
        elif right in UPDATE_RIGHTS:
            action, reason = "update", "the fields the subject names are corrected"
        elif hold:
            action, reason = "anonymise", f"kept by law under the {policy} retention policy: anonymised, not deleted"
        else:
            action, reason = "delete", "the subject's rows are deleted"
        resolved = sorted(set(keys.values()) - known)
        if resolved and action != "review":
            reason += f" (found by {', '.join(resolved)}, resolved from the subject's identities in the lake)"
        items.append(
            {
                "dataset": dataset.name,
                "namespace": dataset.namespace,
                "keys": keys,
                "action": action,
                "fields": personal if action in ("anonymise", "export", "update") else {},
                "hold": hold,
                "reason": reason,
                "hops": hops[pk],
            }
        )
    return items


def plan_build(*, request: DataSubjectRequest, actor: User | None) -> RequestPlan:
    """Build (or rebuild) a verified request's plan; a rebuilt plan needs approving again."""
    if request.status not in (RequestStatus.VERIFIED, RequestStatus.IN_PROGRESS):
        raise Conflict("Only a verified request is planned.", code="not_verified")
    items = plan_items(request)
    with transaction.atomic():
        plan, _ = RequestPlan.objects.select_for_update().get_or_create(request=request)
        plan.items, plan.approved_by, plan.approved_at = items, None, None
        plan.save()
        RequestEvent.objects.create(
            request=request,
            kind="planned",
            message=f"Plan built: {len(items)} dataset(s).",
            actor=actor,
            data={"datasets": len(items)},
        )
    return plan


def plan_approve(*, request: DataSubjectRequest, actor: User) -> RequestPlan:
    """Approve the reviewed plan; a plan with datasets still to map cannot be approved."""
    with transaction.atomic():
        plan = RequestPlan.objects.select_for_update().filter(request=request).first()
        if plan is None:
            raise Conflict("Build the plan first.", code="no_plan")
        unmapped = [i["dataset"] for i in plan.items if i["action"] == "review"]
        if unmapped:
            raise Conflict(f"Map how the subject is found in {', '.join(unmapped)} first.", code="plan_unmapped")
        plan.approved_by, plan.approved_at = actor, timezone.now()
        plan.save(update_fields=["approved_by", "approved_at"])
        RequestEvent.objects.create(request=request, kind="plan_approved", message="Plan approved.", actor=actor)
    return plan


def plan_item_exclude(*, request: DataSubjectRequest, dataset: str, reason: str, actor: User) -> RequestPlan:
    """Take a dataset to review out of the run, with the reason (e.g. a copy outside the lake erased by its owner's
    own process); the exclusion, who made it and why, is on the timeline and in the certificate."""
    if not reason.strip():
        raise Conflict("Say why the dataset is excluded.", code="reason_required")
    with transaction.atomic():
        plan = RequestPlan.objects.select_for_update().filter(request=request).first()
        item = next((i for i in plan.items if i["dataset"] == dataset), None) if plan else None
        if plan is None or item is None or item["action"] != "review":
            raise Conflict(f"{dataset} is not a dataset of the plan waiting for review.", code="not_in_review")
        item["action"] = "excluded"
        item["reason"] = f"excluded by {actor.get_username()}: {reason.strip()[:1000]}"
        plan.approved_by, plan.approved_at = None, None
        plan.save()
        RequestEvent.objects.create(
            request=request,
            kind="plan_excluded",
            message=f"{dataset} excluded from the run: {reason.strip()[:300]}",
            actor=actor,
            data={"dataset": dataset},
        )
    return plan
