"""Remediation API (registered under /api/v1/incidents/): attempts, with approve / deny / run actions, and rules.

Reading attempts needs ``incidents.view_remediationattempt``; deciding on one needs ``incidents.change_incident``
(people who handle incidents). Rules need the matching model permission; creating one needs both add and change,
because a new rule can make the portal act on production by itself.
"""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.api.views import request_user
from apps.incidents.choices import RemediationStatus
from apps.incidents.models import RemediationAttempt, RemediationRule
from apps.incidents.remediation.selectors import remediation_attempt_list, remediation_rule_list
from apps.incidents.remediation.serializers import (
    ERROR_SERIALIZER,
    RemediationAttemptSerializer,
    RemediationDenySerializer,
    RemediationRuleSerializer,
)
from apps.incidents.remediation.services import (
    DECIDE_PERMISSION,
    remediation_approve,
    remediation_deny,
    remediation_run,
)

UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
DECISION_ACTIONS = ("approve", "deny", "run")
DECISION_RESPONSES = {
    200: RemediationAttemptSerializer,
    403: ERROR_SERIALIZER,
    409: ERROR_SERIALIZER,
}


class RemediationAttemptPermission(permissions.BasePermission):
    """Reads need the attempt view permission; approve, deny and run need the permission to change incidents."""

    message = "You may not see or decide on remediation."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        needed = (
            DECIDE_PERMISSION
            if getattr(view, "action", None) in DECISION_ACTIONS
            else "incidents.view_remediationattempt"
        )
        return user.has_perm(needed)


class RemediationRulePermission(permissions.DjangoModelPermissions):
    """Model permissions, with reads needing view and creation needing add and change."""

    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s", "%(app_label)s.change_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }


class RemediationAttemptFilter(django_filters.FilterSet):
    """``?incident=<uuid>&status=a&status=b&action=``."""

    incident = django_filters.UUIDFilter(field_name="incident__public_id", label="Public id of the incident.")
    status = django_filters.MultipleChoiceFilter(
        choices=RemediationStatus.choices, label="Status; repeat the parameter for several (any of them)."
    )
    action = django_filters.CharFilter(label="Action key, exact.")

    class Meta:
        model = RemediationAttempt
        fields = ("incident", "status", "action")


class RemediationRuleFilter(django_filters.FilterSet):
    """``?enabled=true&action=``."""

    enabled = django_filters.BooleanFilter()
    action = django_filters.CharFilter(label="Action key, exact.")

    class Meta:
        model = RemediationRule
        fields = ("enabled", "action")


class RemediationAttemptViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[RemediationAttempt]
):
    """Remediation attempts of incidents, newest first; approve, deny or run one that has not started."""

    queryset = RemediationAttempt.objects.none()  # the real one comes from get_queryset(); this types the schema
    serializer_class = RemediationAttemptSerializer
    filterset_class = RemediationAttemptFilter
    permission_classes = (permissions.IsAuthenticated, RemediationAttemptPermission)
    ordering_fields = ("created_at", "status", "action")
    ordering = ("-created_at",)
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self) -> QuerySet[RemediationAttempt]:
        return remediation_attempt_list()

    def get_view_name(self) -> str:
        return "Remediation attempts"

    @extend_schema(request=None, responses=DECISION_RESPONSES)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, id: str) -> Response:
        """Approve an attempt awaiting approval; it runs at once, under the safety controls."""
        attempt = remediation_approve(attempt=self.get_object(), actor=request_user(request))
        return Response(RemediationAttemptSerializer(attempt).data)

    @extend_schema(request=RemediationDenySerializer, responses=DECISION_RESPONSES)
    @action(detail=True, methods=["post"])
    def deny(self, request: Request, id: str) -> Response:
        """Refuse an attempt that has not started, with a reason."""
        body = RemediationDenySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        attempt = remediation_deny(
            attempt=self.get_object(), actor=request_user(request), reason=body.validated_data["reason"]
        )
        return Response(RemediationAttemptSerializer(attempt).data)

    @extend_schema(request=None, responses=DECISION_RESPONSES)
    @action(detail=True, methods=["post"])
    def run(self, request: Request, id: str) -> Response:
        """Run a proposed attempt its rule did not run automatically."""
        attempt = remediation_run(attempt=self.get_object(), actor=request_user(request))
        return Response(RemediationAttemptSerializer(attempt).data)


class RemediationRuleViewSet(viewsets.ModelViewSet[RemediationRule]):
    """Remediation rules: which incidents propose which action on which target, addressed by UUID."""

    queryset = RemediationRule.objects.none()  # the real one comes from get_queryset(); this types the schema
    serializer_class = RemediationRuleSerializer
    filterset_class = RemediationRuleFilter
    permission_classes = (permissions.IsAuthenticated, RemediationRulePermission)
    ordering_fields = ("position", "name")
    ordering = ("position", "name")
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self) -> QuerySet[RemediationRule]:
        return remediation_rule_list()

    def get_view_name(self) -> str:
        return "Remediation rules"
