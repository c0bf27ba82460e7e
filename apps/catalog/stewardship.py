"""Who may change a dataset: its owners and stewards (django-guardian object permissions ``catalog.own_dataset`` and
``catalog.steward_dataset``) and administrators (superusers or the ``admin`` role). Part of the public surface.

Role groups give stewards the *model* permissions on the catalog; these object permissions narrow what a steward
may change to the datasets they steward or own. Everyone with ``view_dataset`` still reads every dataset.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.db.models import QuerySet
from guardian.shortcuts import assign_perm, get_objects_for_user, get_users_with_perms, remove_perm

from apps.audit.choices import AuditAction
from apps.catalog.models import Dataset
from apps.common import roles
from apps.common.errors import DomainError, PermissionDenied
from apps.common.models import User

OWNER = "owner"
STEWARD = "steward"
ROLE_PERMS = {OWNER: "catalog.own_dataset", STEWARD: "catalog.steward_dataset"}


class UnknownDatasetRole(DomainError):
    """A role other than owner or steward."""

    code = "invalid_role"


def is_catalog_admin(user: Any) -> bool:
    """Superusers and members of the ``admin`` role change every dataset."""
    if user is None or isinstance(user, AnonymousUser) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_catalog_is_admin", None)
    if cached is None:
        cached = user.groups.filter(name=roles.ADMIN).exists()
        user._catalog_is_admin = cached
    return bool(cached)


def can_steward(*, user: Any, dataset: Dataset) -> bool:
    """Whether ``user`` may change ``dataset`` (its metadata, fields, categories, PII decisions)."""
    if is_catalog_admin(user):
        return True
    if user is None or isinstance(user, AnonymousUser) or not user.is_active:
        return False
    return bool(user.has_perm(ROLE_PERMS[STEWARD], dataset) or user.has_perm(ROLE_PERMS[OWNER], dataset))


def require_steward(*, user: Any, dataset: Dataset) -> None:
    """Raise ``PermissionDenied`` unless ``user`` may change ``dataset``."""
    if not can_steward(user=user, dataset=dataset):
        raise PermissionDenied(
            f"Only the stewards and owners of {dataset.name} (or an administrator) may change it.",
            code="not_dataset_steward",
        )


def datasets_stewarded(*, user: Any) -> QuerySet[Dataset]:
    """The datasets ``user`` may change: all of them for administrators, else those they steward or own."""
    if is_catalog_admin(user):
        return Dataset.objects.all()
    if user is None or isinstance(user, AnonymousUser) or not user.is_active:
        return Dataset.objects.none()
    return get_objects_for_user(
        user,
        list(ROLE_PERMS.values()),
        klass=Dataset,
        any_perm=True,
        with_superuser=False,
        accept_global_perms=False,
    )


def dataset_people(*, dataset: Dataset) -> dict[str, list[User]]:
    """The owners and stewards of a dataset (direct user grants), by role."""
    granted = cast(dict[User, list[str]], get_users_with_perms(dataset, attach_perms=True, with_group_users=False))
    out: dict[str, list[User]] = {OWNER: [], STEWARD: []}
    for user, perms in granted.items():
        for role, perm in ROLE_PERMS.items():
            if perm.split(".", 1)[1] in perms:
                out[role].append(user)
    for users in out.values():
        users.sort(key=lambda u: u.username)
    return out


def _check_role(role: str) -> str:
    if role not in ROLE_PERMS:
        raise UnknownDatasetRole(f"Unknown role {role!r}.", fields={"role": ["owner or steward"]})
    return ROLE_PERMS[role]


def dataset_role_assign(*, dataset: Dataset, user: User, role: str, actor: User | None) -> None:
    """Make ``user`` an owner or steward of ``dataset`` (administrators and owners may); audited."""
    perm = _check_role(role)
    if actor is not None and not (is_catalog_admin(actor) or actor.has_perm(ROLE_PERMS[OWNER], dataset)):
        raise PermissionDenied("Only an administrator or an owner assigns owners and stewards.")
    with transaction.atomic():
        Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        if user.has_perm(perm, dataset) and not user.is_superuser:
            return
        assign_perm(perm, user, dataset)
        _audit_role(dataset=dataset, user=user, role=role, granted=True, actor=actor)


def dataset_role_remove(*, dataset: Dataset, user: User, role: str, actor: User | None) -> None:
    """Take the owner or steward role on ``dataset`` away from ``user``; audited."""
    perm = _check_role(role)
    if actor is not None and not (is_catalog_admin(actor) or actor.has_perm(ROLE_PERMS[OWNER], dataset)):
        raise PermissionDenied("Only an administrator or an owner removes owners and stewards.")
    with transaction.atomic():
        Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        remove_perm(perm, user, dataset)
        _audit_role(dataset=dataset, user=user, role=role, granted=False, actor=actor)


def dataset_roles_set(*, dataset: Dataset, role: str, users: list[User], actor: User | None) -> None:
    """Make exactly ``users`` the holders of ``role`` on ``dataset`` (the admin form's multi-select)."""
    _check_role(role)
    current = {u.pk: u for u in dataset_people(dataset=dataset)[role]}
    wanted = {u.pk: u for u in users}
    for pk, user in wanted.items():
        if pk not in current:
            dataset_role_assign(dataset=dataset, user=user, role=role, actor=actor)
    for pk, user in current.items():
        if pk not in wanted:
            dataset_role_remove(dataset=dataset, user=user, role=role, actor=actor)


def _audit_role(*, dataset: Dataset, user: User, role: str, granted: bool, actor: User | None) -> None:
    from apps.catalog.auditing import audit_decision

    audit_decision(
        action=AuditAction.PERMISSION_CHANGE,
        target=dataset,
        actor=actor,
        details={"role": role, "user": str(user.public_id), "username": user.username, "granted": granted},
    )
