"""Every API operation of the OpenAPI schema, called with a token of every role, is allowed or refused (403 in the
``{code, detail, fields}`` format) exactly as the role rules (``apps.common.roles.ROLE_RULES``) say for the view's
model: reads need ``view``, creation ``add``, edits and state-changing actions ``change``, deletion ``delete``.

The expectation is computed from the rules and the view, never copied from the answers, so a view whose permissions
drift (or a rule that changes) breaks this test. The few operations whose policy is not a model permission are
listed in ``POLICIES`` with the reason."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.urls import resolve
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apps.common import roles
from apps.common.services import api_token_create

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
ANY_SIGNED_IN = "any signed-in user"
ADMIN_ONLY = "the admin role only"

# Operations whose policy is not "the permission of the view's model for the method", and why.
POLICIES: dict[tuple[str, str | None, str], tuple[str | frozenset[str], str]] = {
    ("ApiRootView", None, "GET"): (ANY_SIGNED_IN, "the index of the API"),
    ("SpectacularAPIView", None, "GET"): (ANY_SIGNED_IN, "the API's own description"),
    ("SpectacularSwaggerView", None, "GET"): (ANY_SIGNED_IN, "the API's own description"),
    ("SpectacularSwaggerSplitView", None, "GET"): (ANY_SIGNED_IN, "the API's own description"),
    ("MeView", None, "GET"): (ANY_SIGNED_IN, "who am I: the caller's own account"),
    ("ApiTokenViewSet", "list", "GET"): (ANY_SIGNED_IN, "one's own API tokens"),
    ("ApiTokenViewSet", "retrieve", "GET"): (ANY_SIGNED_IN, "one's own API tokens"),
    ("ApiTokenViewSet", "create", "POST"): (ANY_SIGNED_IN, "one's own API tokens"),
    ("ApiTokenViewSet", "revoke", "POST"): (ANY_SIGNED_IN, "one's own API tokens"),
    ("ConfigEntryViewSet", "list", "GET"): (ADMIN_ONLY, "configuration names infrastructure and secrets"),
    ("ConfigEntryViewSet", "retrieve", "GET"): (ADMIN_ONLY, "configuration names infrastructure and secrets"),
    ("AccessReportView", None, "GET"): (frozenset({"audit.view_auditevent"}), "a report over the audit log"),
    ("ComplianceSummaryView", None, "GET"): (frozenset({"audit.view_auditevent"}), "a report over the audit log"),
    ("VerifyView", None, "POST"): (frozenset({"audit.view_auditevent"}), "verifying the chain only reads it"),
    ("LineageIntakeView", None, "POST"): (frozenset({"lineage.add_lineageevent"}), "posting lineage events"),
    ("GraphView", None, "GET"): (frozenset({"lineage.view_datasetedge"}), "reading the lineage graph"),
    ("GraphExportView", None, "GET"): (frozenset({"lineage.view_datasetedge"}), "reading the lineage graph"),
    ("NowView", None, "GET"): (frozenset({"oncall.view_schedule"}), "who is on call now, from the schedules"),
    ("ConsentViewSet", "check", "POST"): (frozenset({"privacy.view_consentevent"}), "a consent lookup is a read"),
    ("SubjectViewSet", "lookup", "POST"): (frozenset({"privacy.view_datasubject"}), "a subject lookup is a read"),
    ("DatasetQualityViewSet", "list", "GET"): (frozenset({"quality.view_qualityrule"}), "datasets' quality rules"),
    ("DatasetQualityViewSet", "retrieve", "GET"): (frozenset({"quality.view_qualityrule"}), "datasets' quality rules"),
    ("DatasetQualityViewSet", "schedule", "PUT"): (frozenset({"quality.change_scanschedule"}), "a scan schedule"),
    ("RuleViewSet", "test_saved", "POST"): (frozenset({"quality.add_qualityscan"}), "testing a rule runs a scan"),
    ("RuleViewSet", "test_unsaved", "POST"): (frozenset({"quality.add_qualityscan"}), "testing a rule runs a scan"),
    ("RemediationRuleViewSet", "create", "POST"): (
        frozenset({"incidents.add_remediationrule", "incidents.change_remediationrule"}),
        "a new rule can execute actions at once: creating it is also changing what runs",
    ),
    ("ContactMethodViewSet", "test", "POST"): (
        frozenset({"oncall.add_contactmethod"}),
        "a test notification to one's own contact method, as when adding one",
    ),
}
# Operations allowed to whoever holds one of these permissions (the object-level rule narrows what they see).
ANY_OF: dict[tuple[str, str | None, str], tuple[frozenset[str], str]] = {
    ("RequestViewSet", "retrieve", "GET"): (
        frozenset({"privacy.view_datasubjectrequest", "privacy.add_datasubjectrequest"}),
        "whoever files data-subject requests follows the status of their own (tests/access/test_object_permissions)",
    ),
}
ACTIONS_BY_METHOD = {"GET": "view", "HEAD": "view", "PUT": "change", "PATCH": "change", "DELETE": "delete"}


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    view: str
    action: str | None
    model: str | None

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.view, self.action, self.method)


def operations() -> list[Operation]:
    generator = SchemaGenerator()
    generator._initialise_endpoints()
    out = []
    endpoints: list[Any] = list(generator.endpoints or [])
    for path, _, method, callback in endpoints:
        view = generator.create_view(callback, method)
        model = None
        queryset = getattr(view, "queryset", None)
        if queryset is None:
            try:
                queryset = view.get_queryset()
            except Exception:  # views without a model queryset
                queryset = None
        if queryset is not None:
            model = queryset.model._meta.label_lower
        out.append(Operation(path, method, type(view).__name__, getattr(view, "action", None), model))
    return out


def required(op: Operation) -> str | frozenset[str]:
    """What the rules demand for ``op``: a policy name or the permissions needed."""
    if op.key in POLICIES:
        return POLICIES[op.key][0]
    assert op.model, f"{op.method} {op.path} ({op.view}) has no model: add it to POLICIES with the reason"
    app_label, model = op.model.split(".")
    # POST creates (``create``) or acts on what exists (any other action).
    verb = ("add" if op.action == "create" else "change") if op.method == "POST" else ACTIONS_BY_METHOD[op.method]
    return frozenset({f"{app_label}.{verb}_{model}"})


def granted(role: str) -> set[str]:
    """The permissions the role's rules grant."""
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.filter(roles.role_permission_filter(role)).select_related("content_type")
    }


def expected_allowed(op: Operation, role: str, perms: set[str]) -> bool:
    if op.key in ANY_OF:
        return bool(ANY_OF[op.key][0] & perms)
    need = required(op)
    if need == ANY_SIGNED_IN:
        return True
    if need == ADMIN_ONLY:
        return role == roles.ADMIN
    assert isinstance(need, frozenset)
    return need <= perms


SAMPLE_VALUES = {"seq": "999999999", "key": "no.such_key", "slug": "no-such-slug"}


def concrete(path: str) -> str:
    """The path with sample values that match no object (a permitted caller gets 404, not 403)."""
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE_VALUES.get(m.group(1)) or str(uuid.uuid4()), path)


@pytest.fixture(scope="module")
def schema_operations() -> list[Operation]:
    return operations()


def test_the_schema_lists_every_mounted_app(schema_operations: list[Operation]) -> None:
    prefixes = {op.path.split("/")[3] for op in schema_operations if op.path.startswith("/api/v1/")}
    assert {"audit", "catalog", "common", "configuration", "incidents", "lineage", "oncall", "privacy"} <= prefixes
    assert {"quality", "sparkruns"} <= prefixes
    assert len(schema_operations) > 150


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(roles.ROLE_RULES))
def test_every_operation_answers_each_role_as_its_rules_say(
    role: str, schema_operations: list[Operation], make_user: Callable[..., Any]
) -> None:
    _, raw = api_token_create(user=make_user(role=role), name="matrix")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    perms = granted(role)
    wrong = []
    for op in schema_operations:
        url = concrete(op.path)
        resolve(url)  # a 404 below must come from the view, never from a sample value the URL does not take
        response = getattr(client, op.method.lower())(url, {}, format="json") if op.method in WRITE_METHODS else None
        if response is None:
            response = client.get(url, HTTP_ACCEPT="application/json, application/vnd.oai.openapi+json")
        assert response.status_code != 500, f"{op.method} {op.path} answered 500 for {role}"
        assert response.status_code != 401, f"{op.method} {op.path}: the {role} token was not accepted"
        allowed = response.status_code != 403
        if response.status_code == 403:
            body = response.json()
            assert set(body) == {"code", "detail", "fields"}, (op.path, body)
            assert body["code"] == "permission_denied", (op.path, body)
        if allowed != expected_allowed(op, role, perms):
            wrong.append(f"{op.method} {op.path} ({op.view}.{op.action}): {response.status_code}")
    assert not wrong, f"{role}: answers differ from the role rules:\n" + "\n".join(wrong)


@pytest.mark.django_db
def test_named_role_promises_hold_in_the_rules() -> None:
    """The promises the rules are meant to keep, checked on the rules themselves (the matrix checks the views)."""
    from django.apps import apps as django_apps

    integrator = granted(roles.INTEGRATOR)
    assert "privacy.view_datasubjectrequest" not in integrator
    assert "privacy.view_exportpackage" not in integrator
    auditor = granted(roles.AUDITOR)
    assert auditor, "the auditor reads everything"
    assert all(p.split(".")[1].startswith("view_") for p in auditor)
    steward = granted(roles.DATA_STEWARD)
    privacy_models = [m._meta.model_name for m in django_apps.get_app_config("privacy").get_models()]
    for model in privacy_models:
        for verb in ("add", "change", "delete"):
            assert f"privacy.{verb}_{model}" not in steward


@pytest.mark.django_db
def test_an_auditor_reads_but_every_write_is_refused(
    schema_operations: list[Operation], token_client: Callable[..., Any]
) -> None:
    client, _ = token_client(role=roles.AUDITOR)
    writes = [op for op in schema_operations if op.method in WRITE_METHODS and op.key not in POLICIES]
    assert len(writes) > 50
    for op in writes:
        response = getattr(client, op.method.lower())(concrete(op.path), {}, format="json")
        assert response.status_code == 403, f"{op.method} {op.path} answered {response.status_code} to an auditor"
    reads = [op for op in schema_operations if op.method == "GET" and op.key not in POLICIES and "{" not in op.path]
    answered = [client.get(op.path).status_code for op in reads]
    assert answered.count(200) > 0.8 * len(reads)
    assert 403 not in answered


@pytest.mark.django_db
def test_a_steward_cannot_write_privacy_data(
    schema_operations: list[Operation], token_client: Callable[..., Any]
) -> None:
    client, _ = token_client(role=roles.DATA_STEWARD)
    writes = [
        op
        for op in schema_operations
        if op.path.startswith("/api/v1/privacy/") and op.method in WRITE_METHODS and op.key not in POLICIES
    ]
    assert writes
    for op in writes:
        response = getattr(client, op.method.lower())(concrete(op.path), {}, format="json")
        assert response.status_code == 403, f"{op.method} {op.path} answered {response.status_code} to a steward"
