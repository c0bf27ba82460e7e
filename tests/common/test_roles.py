"""Roles are groups created by a migration, with model permissions that follow the rules in apps.common.roles."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from apps.common import roles

pytestmark = pytest.mark.django_db


def perms_of(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_every_role_exists_as_a_group() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "data_steward",
        "compliance_officer",
        "integrator",
        "oncall_engineer",
        "auditor",
        "admin",
    }


def test_admin_role_has_every_model_permission() -> None:
    assert perms_of(roles.ADMIN) == {
        f"{p.content_type.app_label}.{p.codename}" for p in Permission.objects.select_related("content_type")
    }


def test_auditor_reads_everything_and_changes_nothing() -> None:
    perms = perms_of(roles.AUDITOR)
    assert {"common.view_user", "common.view_apitoken", "django_celery_beat.view_periodictask"} <= perms
    assert all(p.split(".")[1].startswith("view_") for p in perms)


def test_roles_without_a_claim_on_identity_cannot_manage_users_or_tokens() -> None:
    for role in (roles.DATA_STEWARD, roles.COMPLIANCE_OFFICER, roles.INTEGRATOR, roles.ONCALL_ENGINEER):
        perms = perms_of(role)
        assert "common.change_user" not in perms
        assert "common.change_apitoken" not in perms
        assert "auth.change_group" not in perms


def test_role_members_get_the_permissions(make_user) -> None:
    auditor = make_user(role=roles.AUDITOR)
    steward = make_user(role=roles.DATA_STEWARD)
    assert auditor.has_perm("common.view_apitoken")
    assert not auditor.has_perm("common.change_apitoken")
    assert not steward.has_perm("common.view_apitoken")


def test_roles_sync_restores_drifted_permissions_and_is_idempotent() -> None:
    auditor = Group.objects.get(name=roles.AUDITOR)
    auditor.permissions.add(Permission.objects.get(codename="delete_user"))
    Group.objects.get(name=roles.ADMIN).permissions.clear()
    first = roles.roles_sync(group_model=Group, permission_model=Permission)
    second = roles.roles_sync(group_model=Group, permission_model=Permission)
    assert first == second
    assert "common.delete_user" not in perms_of(roles.AUDITOR)
    assert first[roles.ADMIN] == Permission.objects.count()


def test_rule_for_one_model_grants_only_that_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(roles.ROLE_RULES, roles.INTEGRATOR, {"common.apitoken": ("view",)})
    roles.roles_sync(group_model=Group, permission_model=Permission)
    assert perms_of(roles.INTEGRATOR) == {"common.view_apitoken"}


def test_object_permissions_through_guardian_apply_to_one_object_only(make_user) -> None:
    from guardian.shortcuts import assign_perm

    from apps.common.services import api_token_create

    owner, reviewer = make_user(), make_user()
    first, _ = api_token_create(user=owner, name="first")
    second, _ = api_token_create(user=owner, name="second")
    assign_perm("common.change_apitoken", reviewer, first)
    assert reviewer.has_perm("common.change_apitoken", first)
    assert not reviewer.has_perm("common.change_apitoken", second)
    assert not reviewer.has_perm("common.change_apitoken")
