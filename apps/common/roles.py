"""Roles are Django groups with model permissions, declared here and kept in sync after every migrate.

Rules name an app label (every model of the app) or ``app_label.model`` (one model) and the actions allowed, so
models added by later migrations get the right permissions without touching this file. Object-level rights (who
owns which dataset) come on top, through django-guardian.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

ALL = ("add", "change", "delete", "view")
VIEW = ("view",)

DATA_STEWARD = "data_steward"
COMPLIANCE_OFFICER = "compliance_officer"
INTEGRATOR = "integrator"
ONCALL_ENGINEER = "oncall_engineer"
AUDITOR = "auditor"
ADMIN = "admin"

# Every app whose data the auditor may read (everything the portal keeps).
_AUDITABLE_APPS = (
    "common",
    "auth",
    "configuration",
    "audit",
    "catalog",
    "lineage",
    "quality",
    "privacy",
    "incidents",
    "oncall",
    "sparkruns",
    "django_celery_beat",
)

ROLE_RULES: dict[str, dict[str, tuple[str, ...]]] = {
    DATA_STEWARD: {
        "sparkruns": ("add", "view"),
        "catalog": ALL,
        "lineage": ALL,
        "quality": ALL,
        "privacy": VIEW,
        "incidents": VIEW,
    },
    COMPLIANCE_OFFICER: {
        "privacy": ALL,
        "catalog": VIEW,
        "lineage": VIEW,
        "audit": VIEW,
        "incidents": VIEW,
    },
    INTEGRATOR: {
        # Consent is recorded and checked by the shop's systems; subjects are looked up to read their history.
        "privacy.consentevent": ("add", "view"),
        "privacy.datasubject": VIEW,
        # Files requests and reads the status of its own filings (the API scopes that); never reads the others.
        "privacy.datasubjectrequest": ("add",),
        "sparkruns": VIEW,
        "lineage": ("add", "view"),
        "incidents": ("add", "view"),
        "catalog": VIEW,
        "quality": VIEW,
        "oncall": VIEW,
    },
    ONCALL_ENGINEER: {
        "sparkruns": ("add", "change", "view"),
        "oncall": ALL,
        "incidents": ALL,
        "quality": VIEW,
        "lineage": VIEW,
        "catalog": VIEW,
    },
    AUDITOR: dict.fromkeys(_AUDITABLE_APPS, VIEW),
    ADMIN: {"*": ALL},
}

ROLE_DESCRIPTIONS = {
    DATA_STEWARD: "Catalogues and classifies datasets, reviews PII, owns quality rules, reads lineage.",
    COMPLIANCE_OFFICER: "Handles data-subject requests and consent; reads the audit trail.",
    INTEGRATOR: "Pushes lineage events and alerts through the API; reads catalog, quality and incidents.",
    ONCALL_ENGINEER: "Is paged, acknowledges and resolves incidents, approves remediation.",
    AUDITOR: "Reads everything, changes nothing; verifies the audit chain.",
    ADMIN: "Administers the portal: users, roles, configuration.",
}


def _rule_filter(target: str, actions: tuple[str, ...]) -> Q:
    if target == "*":
        # Every action on every model includes the custom ones (``catalog.steward_dataset``…).
        return Q(pk__isnull=False) if actions == ALL else Q(codename__regex=rf"^({'|'.join(actions)})_")
    app_label, _, model = target.partition(".")
    q = Q(content_type__app_label=app_label)
    if model:
        return q & Q(content_type__model=model, codename__in=[f"{a}_{model}" for a in actions])
    return q & Q(codename__regex=rf"^({'|'.join(actions)})_")


def role_permission_filter(role: str) -> Q:
    """The permissions a role grants, as a filter on ``auth.Permission``."""
    q = Q(pk__in=[])
    for target, actions in ROLE_RULES[role].items():
        q |= _rule_filter(target, actions)
    return q


def roles_sync(*, group_model: Any, permission_model: Any, using: str = "default") -> dict[str, int]:
    """Create the role groups and set each one's permissions to exactly what its rules grant.

    Takes the models as arguments so data migrations can pass their historical models. Returns permission counts.
    """
    counts = {}
    for role in ROLE_RULES:
        group, _ = group_model.objects.using(using).get_or_create(name=role)
        perms = list(permission_model.objects.using(using).filter(role_permission_filter(role)))
        group.permissions.set(perms)
        counts[role] = len(perms)
    return counts
