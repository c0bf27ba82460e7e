"""Shipped defaults: the internal integration, classification rules for the platform's alerts, runbooks (``runbooks/``).

Installed after every migrate when the table is empty (a fresh install, or a flushed test database), so stewards'
edits and deletions of individual rules or runbooks are never overwritten.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apps.incidents.models import ClassificationRule, Runbook

RUNBOOK_DIR = Path(__file__).resolve().parent / "runbooks"

# (name, position, matchers, severity, priority, impact, impact_text, urgency, escalation policy)
RULES = [
    (
        "P1: security incident",
        10,
        'alert_type="security_incident"',
        "critical",
        "P1",
        "high",
        "Possible security incident: customer data or accounts at risk.",
        "high",
        "critical",
    ),
    (
        "P1: critical on a core customer service",
        20,
        'severity="critical", service=~"payments|fraud-detection|api|authentication"',
        "",
        "P1",
        "critical",
        "Customers cannot buy, pay or sign in.",
        "high",
        "critical",
    ),
    (
        "P1: business-critical tier",
        30,
        'tier="business-critical"',
        "",
        "P1",
        "high",
        "A business-critical service is degraded.",
        "high",
        "critical",
    ),
    ("P2: any critical", 40, 'severity="critical"', "", "P2", "high", "", "high", "critical"),
    ("P2: escalation level 1", 50, 'escalation_level="1"', "", "P2", "medium", "", "high", "critical"),
    (
        "P4: predictive and capacity (level 3)",
        60,
        'escalation_level="3"',
        "",
        "P4",
        "low",
        "No customer impact yet; act within a business day.",
        "low",
        "standard",
    ),
    ("P3: warning (level 2)", 70, 'severity="warning"', "", "P3", "medium", "", "high", "high"),
]


def front_matter(text: str) -> tuple[dict[str, str], str]:
    """The `key: value` block between `---` lines at the top, and the Markdown after it."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, text
    end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    meta: dict[str, str] = {}
    for line in lines[1:end]:
        key, _, value = line.partition(":")
        meta[key.strip()] = value.strip()
    return meta, "\n".join(lines[end + 1 :]).strip() + "\n"


def runbooks_load() -> int:
    """Create the shipped runbooks that do not exist yet (by slug); returns how many were created."""
    created = 0
    for path in sorted(RUNBOOK_DIR.glob("*.md")):
        meta, body = front_matter(path.read_text(encoding="utf-8"))
        names = [n.strip() for n in meta.get("alertnames", "").strip("[]").split(",") if n.strip()]
        _, made = Runbook.objects.get_or_create(
            slug=meta.get("slug") or path.stem.lower(),
            defaults={
                "title": meta.get("title") or path.stem,
                "alertnames": names or [path.stem],
                "matchers": meta.get("matchers", ""),
                "body": body,
            },
        )
        created += made
    return created


def defaults_install(**_: Any) -> None:
    """post_migrate receiver: the portal's own integration, and the shipped rules and runbooks into empty tables."""
    from apps.incidents.services import internal_integration

    internal_integration()  # exists before the first alert_raise, so raising an alert never creates it
    if not Runbook.objects.exists():
        runbooks_load()
    if not ClassificationRule.objects.exists():
        for name, position, matchers, severity, priority, impact, impact_text, urgency, policy in RULES:
            ClassificationRule.objects.create(
                name=name,
                position=position,
                matchers=matchers,
                severity=severity,
                priority=priority,
                impact=impact,
                impact_text=impact_text,
                urgency=urgency,
                escalation_policy=policy,
            )
