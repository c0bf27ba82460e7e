"""The lake's baseline rules: what every installation should check on the generated e-commerce lake.

``default_rules_install`` adds the rules missing on the datasets the catalog knows (it never changes a rule a
steward edited); ``manage.py quality_seed_rules`` and the demo call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from apps.catalog.models import Dataset
from apps.common.models import User
from apps.quality.choices import RuleKind, RuleSeverity
from apps.quality.models import QualityRule
from apps.quality.services import rule_save

DAY_SECONDS = 24 * 3600
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"


@dataclass(frozen=True)
class DefaultRule:
    dataset: str
    name: str
    kind: str
    description: str
    columns: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    warn: float | None = None
    fail: float | None = None
    severity: str = RuleSeverity.ERROR
    reference: tuple[str, str] | None = None


DEFAULT_RULES = (
    DefaultRule(
        "raw/customers", "email-completeness", RuleKind.NOT_NULL,
        "At least 95% of customers have an e-mail address.", ("email",), warn=0.05, severity=RuleSeverity.WARNING,
    ),
    DefaultRule(
        "raw/customers", "customer-id-unique", RuleKind.UNIQUE,
        "Every customer_id appears once.", ("customer_id",), fail=0.0, severity=RuleSeverity.CRITICAL,
    ),
    DefaultRule(
        "raw/customers", "email-format", RuleKind.REGEX,
        "At least 98% of e-mail addresses are well formed.", ("email",), {"pattern": EMAIL_PATTERN}, warn=0.02,
        severity=RuleSeverity.WARNING,
    ),
    DefaultRule(
        "raw/orders", "orders-fresh", RuleKind.FRESHNESS,
        "The newest order is less than 24 hours old.", ("order_ts",), {"max_age_seconds": DAY_SECONDS}, fail=0.0,
        severity=RuleSeverity.CRITICAL,
    ),
    DefaultRule(
        "raw/orders", "total-amount-non-negative", RuleKind.RANGE,
        "No order has a negative total.", ("total_amount",), {"min": 0}, fail=0.0,
    ),
    DefaultRule(
        "raw/orders", "no-future-orders", RuleKind.CUSTOM,
        "No order is timestamped in the future.", ("order_ts",),
        {"expression": "order_ts IS NULL OR order_ts <= current_timestamp()"}, fail=0.0,
    ),
    DefaultRule(
        "raw/order_items", "order-exists", RuleKind.REFERENTIAL,
        "Every order line belongs to an existing order.", ("order_id",), fail=0.0,
        reference=("raw/orders", "order_id"),
    ),
    DefaultRule(
        "raw/order_items", "product-exists", RuleKind.REFERENTIAL,
        "Every order line names an existing product.", ("product_id",), fail=0.0,
        reference=("raw/products", "product_id"),
    ),
)  # fmt: skip


def default_rules_install(*, namespace: str, owner: User | None = None) -> list[QualityRule]:
    """Add the baseline rules missing on the lake's catalogued datasets; returns the rules created."""
    datasets = {d.name: d for d in Dataset.objects.filter(namespace=namespace)}
    created: list[QualityRule] = []
    with transaction.atomic():
        for spec in DEFAULT_RULES:
            dataset = datasets.get(spec.dataset)
            reference = datasets.get(spec.reference[0]) if spec.reference else None
            if dataset is None or (spec.reference and reference is None):
                continue
            if QualityRule.objects.filter(dataset=dataset, name=spec.name).exists():
                continue
            rule = QualityRule(
                dataset=dataset,
                name=spec.name,
                description=spec.description,
                kind=spec.kind,
                columns=list(spec.columns),
                params=dict(spec.params),
                reference_dataset=reference,
                reference_field=spec.reference[1] if spec.reference else "",
                warn_threshold=spec.warn,
                fail_threshold=spec.fail,
                severity=spec.severity,
                owner=owner,
            )
            created.append(rule_save(rule=rule))
    return created
