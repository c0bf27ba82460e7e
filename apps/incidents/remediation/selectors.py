"""Reads of remediation: attempts and rules as the API and the admin list them."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.incidents.models import RemediationAttempt, RemediationRule


def remediation_attempt_list() -> QuerySet[RemediationAttempt]:
    """Every attempt, newest first, with what its representation shows joined in one query."""
    return RemediationAttempt.objects.select_related("incident", "rule", "decided_by").order_by("-created_at", "-id")


def remediation_rule_list() -> QuerySet[RemediationRule]:
    """Every rule in the order proposals consider them."""
    return RemediationRule.objects.order_by("position", "name")
