"""Classification of a new incident from its labels: severity, priority, impact, urgency, policy and runbook.

Rules are evaluated in position order and the first match wins. Without a matching rule the severity comes from the
``severity`` label and the priority from the severity (critical P2, error P3, warning P4, info P5); urgency is high
for critical and error. Runbooks are matched by alert name first, then by label matchers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.db.models import Q

from apps.incidents.choices import Impact, Priority, Severity, Urgency
from apps.incidents.matchers import MatcherError, matches_all
from apps.incidents.models import ClassificationRule, Integration, Runbook

SEVERITY_ALIASES = {
    "critical": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "high": Severity.ERROR,
    "error": Severity.ERROR,
    "major": Severity.ERROR,
    "warning": Severity.WARNING,
    "warn": Severity.WARNING,
    "minor": Severity.WARNING,
    "info": Severity.INFO,
    "none": Severity.INFO,
}
DEFAULT_PRIORITY = {
    Severity.CRITICAL: Priority.P2,
    Severity.ERROR: Priority.P3,
    Severity.WARNING: Priority.P4,
    Severity.INFO: Priority.P5,
}


@dataclass(frozen=True)
class Classification:
    """What classification decided for an incident."""

    severity: str
    priority: str
    impact: str
    impact_text: str
    urgency: str
    escalation_policy: str
    rule: ClassificationRule | None
    runbook: Runbook | None


def severity_from_labels(labels: Mapping[str, str]) -> str:
    return SEVERITY_ALIASES.get(str(labels.get("severity", "")).lower(), Severity.WARNING)


def classify(*, integration: Integration, labels: Mapping[str, str]) -> Classification:
    """Classify by the first matching rule, else by the severity label."""
    rules = ClassificationRule.objects.filter(Q(integration__isnull=True) | Q(integration=integration), enabled=True)
    for rule in rules.select_related("runbook").order_by("position", "name"):
        try:
            matched = matches_all(rule.matchers, labels)
        except MatcherError:
            continue  # the admin refuses bad matchers; a rule broken by hand never matches
        if matched:
            return Classification(
                severity=rule.severity or severity_from_labels(labels),
                priority=rule.priority,
                impact=rule.impact,
                impact_text=rule.impact_text or str(labels.get("business_impact", ""))[:300],
                urgency=rule.urgency,
                escalation_policy=rule.escalation_policy,
                rule=rule,
                runbook=rule.runbook if rule.runbook and rule.runbook.enabled else runbook_for(labels),
            )
    severity = severity_from_labels(labels)
    return Classification(
        severity=severity,
        priority=DEFAULT_PRIORITY[Severity(severity)],
        impact=Impact.NONE,
        impact_text=str(labels.get("business_impact", ""))[:300],
        urgency=Urgency.HIGH if severity in (Severity.CRITICAL, Severity.ERROR) else Urgency.LOW,
        escalation_policy="",
        rule=None,
        runbook=runbook_for(labels),
    )


def runbook_for(labels: Mapping[str, str]) -> Runbook | None:
    """The runbook for an alert: one naming its alertname, else the first whose matchers match."""
    name = str(labels.get("alertname", ""))
    candidates = list(Runbook.objects.filter(enabled=True).order_by("slug"))
    for runbook in candidates:
        if name and name in (runbook.alertnames or []):
            return runbook
    for runbook in candidates:
        if runbook.matchers.strip():
            try:
                if matches_all(runbook.matchers, labels):
                    return runbook
            except MatcherError:
                continue
    return None
