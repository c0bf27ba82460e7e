"""Demo data of the catalog: glossary terms, the demo lake's datasets registered with their canonical schema,
descriptions, domains, classification and retention, the demo steward and owner, identity kinds, and a few pending
PII suggestions so the review queue is not empty before the demo PII scan (queued by the Spark runs demo) finishes
and the discovery consumption adds its real ones."""

from __future__ import annotations

from django.db import transaction

from apps.catalog.choices import Classification, IdentityKind, SuggestionStatus
from apps.catalog.models import DataCategory, Dataset, Field, GlossaryTerm, PiiSuggestion, RetentionPolicy
from apps.catalog.review import pii_suggestion_accept, suggestions_offer
from apps.catalog.services import (
    FieldSpec,
    dataset_pii_status_refresh,
    dataset_schema_apply,
    dataset_update,
    dataset_upsert,
    field_category_add,
)
from apps.catalog.stewardship import dataset_role_assign
from apps.common.models import User
from apps.configuration.services import config_get

GLOSSARY = {
    "Customer": "A person with an account in the shop, identified by customer_id; visitors without one are not.",
    "Order": "One checkout by a customer: its lines, payment method, amount and status.",
    "Revenue": "The sum of completed orders' total_amount, in the order currency, before refunds.",
    "RFM segment": "A customer's group from recency, frequency and monetary scores (Champions … Lost).",
    "Session": "A visitor's sequence of clickstream events, identified by session_id.",
    "Product": "An item the shop sells, identified by product_id.",
}

# name → (domain, classification, retention policy, description, {field: glossary term})
DATASETS = {
    "raw/customers": (
        "customers", Classification.RESTRICTED, "customer-data",
        "Registered customers with contact details and marketing consent, one row per customer.",
        {"customer_id": "Customer"},
    ),
    "raw/orders": (
        "sales", Classification.CONFIDENTIAL, "transactions",
        "Every order placed in the shop, partitioned by order date.",
        {"order_id": "Order", "total_amount": "Revenue", "customer_id": "Customer", "session_id": "Session"},
    ),
    "raw/order_items": (
        "sales", Classification.INTERNAL, "transactions", "The lines of each order.",
        {"order_id": "Order", "product_id": "Product"},
    ),
    "raw/products": (
        "catalogue", Classification.INTERNAL, "analytics", "The product catalogue with prices and stock.",
        {"product_id": "Product"},
    ),
    "raw/user_events": (
        "web", Classification.CONFIDENTIAL, "logs", "Clickstream events from the web shop, by event date.",
        {"session_id": "Session", "customer_id": "Customer"},
    ),
    "analytics/rfm_segments": (
        "marketing", Classification.CONFIDENTIAL, "analytics", "Per-customer RFM scores and segment, by as-of date.",
        {"segment": "RFM segment", "customer_id": "Customer"},
    ),
}  # fmt: skip

IDENTITY = {
    ("raw/customers", "customer_id"): IdentityKind.CUSTOMER_ID,
    ("raw/customers", "email"): IdentityKind.EMAIL,
    ("raw/customers", "phone"): IdentityKind.PHONE,
    ("raw/orders", "customer_id"): IdentityKind.CUSTOMER_ID,
    ("raw/orders", "ip_address"): IdentityKind.IP_ADDRESS,
    ("raw/user_events", "customer_id"): IdentityKind.CUSTOMER_ID,
    ("raw/user_events", "session_id"): IdentityKind.SESSION_ID,
    ("analytics/rfm_segments", "customer_id"): IdentityKind.CUSTOMER_ID,
}

# Findings as the PII scan reports them, so the queue has something before the real scan runs.
PRESEEDED = {
    "raw/customers": [
        ("phone", "user.contact.phone_number", "phone", 0.93, 0.97, True),
        ("street_address", "user.contact.address", "address", 0.88, 0.95, True),
    ],
    "raw/user_events": [("ip_address", "user.device.ip_address", "ip_address", 1.0, 0.99, True)],
}


def _canonical_fields(name: str) -> list[FieldSpec]:
    """The lake's canonical schema, as Spark reads Parquet back (every column nullable)."""
    from spark.schema import DATASETS as SCHEMAS

    entry = SCHEMAS.get(name)
    if entry is None:
        return []
    return [FieldSpec(f.name, f.dataType.simpleString(), True) for f in entry.schema.fields]


def _primary_keys(name: str) -> tuple[str, ...]:
    from spark.schema import DATASETS as SCHEMAS

    entry = SCHEMAS.get(name)
    return entry.primary_key if entry is not None else ()


def seed() -> list[str]:
    """Idempotent: terms, datasets and roles are upserted; pre-seeded suggestions only where none exist."""
    from spark.paths import normalize_root

    namespace = normalize_root(str(config_get("lake.root")))
    steward = User.objects.filter(username="steward").first()
    owner = User.objects.filter(username="admin").first()
    with transaction.atomic():
        terms = {}
        for name, definition in GLOSSARY.items():
            terms[name], _ = GlossaryTerm.objects.get_or_create(name=name, defaults={"definition": definition})
        policies = {p.name: p for p in RetentionPolicy.objects.all()}
        for name, (domain, classification, policy, description, glossary) in DATASETS.items():
            dataset, _ = dataset_upsert(namespace=namespace, name=name, defaults={"format": "parquet"})
            if dataset.schema_version == 0:
                dataset_schema_apply(dataset=dataset, fields=_canonical_fields(name), source="demo: canonical schema")
            if not dataset.description:
                dataset_update(
                    dataset=dataset,
                    actor=None,
                    description=description,
                    domain=domain,
                    classification=classification,
                    retention_policy=policies.get(policy),
                    tags=[domain, name.split("/", 1)[0]],
                    freshness_sla_hours=24 if name.startswith("raw/") else 48,
                )
            for field_name, term in glossary.items():
                field = Field.objects.filter(dataset=dataset, name=field_name).first()
                if field is not None:
                    field.glossary_terms.add(terms[term])
            if steward is not None:
                dataset_role_assign(dataset=dataset, user=steward, role="steward", actor=None)
            if owner is not None:
                dataset_role_assign(dataset=dataset, user=owner, role="owner", actor=None)
        for (dataset_name, field_name), kind in IDENTITY.items():
            Field.objects.filter(dataset__namespace=namespace, dataset__name=dataset_name, name=field_name).update(
                identity_kind=kind
            )
        for name in DATASETS:
            Field.objects.filter(
                dataset__namespace=namespace, dataset__name=name, name__in=_primary_keys(name), is_primary_key=False
            ).update(is_primary_key=True)
        for dataset in Dataset.objects.filter(namespace=namespace):
            Dataset.objects.filter(pk=dataset.pk).update(search_text=_search_text(dataset))
        created = _preseed_suggestions(namespace)
        decided = _steward_decisions(namespace, steward)
        dataset_pii_status_refresh(dataset_ids=Dataset.objects.filter(namespace=namespace).values_list("pk", flat=True))
    pending = PiiSuggestion.objects.filter(status="pending").count()
    return [
        f"catalog: {len(DATASETS)} demo datasets under {namespace} (steward: steward, owner: admin), "
        f"{len(GLOSSARY)} glossary terms, {pending} pending PII suggestions ({created} pre-seeded now), "
        f"{decided} steward decisions; the demo profile and PII-scan runs add statistics and real suggestions when "
        "they finish, and the Spark runs' column lineage carries the confirmed categories downstream"
    ]


def _steward_decisions(namespace: str, steward: User | None) -> int:
    """What a steward has already confirmed: customers' e-mail tagged by hand and the phone suggestion accepted, so
    inherited categories show downstream (curated customers, the CRM export) once the lineage arrives."""
    if steward is None:
        return 0
    decided = 0
    email = Field.objects.filter(dataset__namespace=namespace, dataset__name="raw/customers", name="email").first()
    category = DataCategory.objects.filter(key="user.contact.email").first()
    if email is not None and category is not None and not email.category_links.filter(category=category).exists():
        field_category_add(field=email, category=category, actor=steward)
        decided += 1
    phone = PiiSuggestion.objects.filter(
        field__dataset__namespace=namespace,
        field__dataset__name="raw/customers",
        field__name="phone",
        status=SuggestionStatus.PENDING,
    ).first()
    if (
        phone is not None
        and not PiiSuggestion.objects.filter(field=phone.field, status=SuggestionStatus.ACCEPTED).exists()
    ):
        pii_suggestion_accept(suggestion=phone, actor=steward, note="Checked a sample of the column: phone numbers.")
        decided += 1
    return decided


def _search_text(dataset: Dataset) -> str:
    from apps.catalog.services import dataset_search_text

    return dataset_search_text(dataset)


def _preseed_suggestions(namespace: str) -> int:
    created = 0
    known = set(DataCategory.objects.values_list("key", flat=True))
    for name, findings in PRESEEDED.items():
        dataset = Dataset.objects.select_for_update().filter(namespace=namespace, name=name).first()
        if dataset is None or PiiSuggestion.objects.filter(field__dataset=dataset).exists():
            continue
        columns = [
            {
                "column": column,
                "findings": [
                    {
                        "category": category,
                        "detector": detector,
                        "ratio": ratio,
                        "confidence": confidence,
                        "name_hint": hint,
                        "matched": int(ratio * 1000),
                        "sampled": 1000,
                        "flagged": True,
                        "reason": f"{ratio:.0%} of 1000 sampled values match ({detector}); demo data",
                    }
                ],
            }
            for column, category, detector, ratio, confidence, hint in findings
            if category in known
        ]
        created += suggestions_offer(dataset=dataset, columns=columns, source_run="demo").created
    return created
