"""The on-call API: teams, schedules (with their layers and turns), overrides, escalation policies (with their steps),
contact methods and notification rules; who is on call now (``now/``) and a schedule's final shifts.

Reads need the app's view permissions (integrators and auditors have them), writes the add/change/delete ones
(on-call engineers, administrators). Contact methods and rules are personal: everyone sees and manages their own,
administrators everyone's.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.api.permissions import ModelPermissions
from apps.common.api.views import request_user
from apps.common.errors import NotFound
from apps.oncall import services
from apps.oncall.api import filters as f
from apps.oncall.api import serializers as s
from apps.oncall.models import ContactMethod, EscalationPolicy, NotificationRule, Override, Schedule, Team
from apps.oncall.selectors import (
    NowRow,
    contact_method_list,
    notification_rule_list,
    oncall_now_all,
    override_list,
    policy_list,
    schedule_by_ref,
    schedule_list,
    schedule_shift_rows,
    team_list,
)


def _now_body(row: NowRow) -> dict[str, Any]:
    return {
        "schedule": {"id": row.schedule.public_id, "name": row.schedule.name, "time_zone": row.schedule.time_zone},
        "on_call": [u.get_username() for u in row.on_call],
        "next": [{"user": _name(r.user), "start": r.start, "end": r.end} for r in row.next],
        "gap": row.gap_now,
        "next_gap": {"start": row.next_gap[0], "end": row.next_gap[1]} if row.next_gap else None,
    }


def _name(user: Any) -> str | None:
    return user.get_username() if user is not None else None


class TeamViewSet(viewsets.ModelViewSet[Team]):
    """Teams (paged together by a "notify a team" step), addressed by UUID."""

    lookup_field = "public_id"
    serializer_class = s.TeamSerializer
    permission_classes = (ModelPermissions,)
    filterset_class = f.TeamFilter
    ordering_fields = ("name",)
    queryset = Team.objects.none()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Team]:
        return team_list()

    def perform_destroy(self, instance: Team) -> None:
        services.team_delete(team=instance)


class ScheduleViewSet(viewsets.ModelViewSet[Schedule]):
    """Schedules with their layers; writing ``layers`` replaces them all. ``shifts/`` answers the final shifts."""

    lookup_field = "public_id"
    serializer_class = s.ScheduleSerializer
    permission_classes = (ModelPermissions,)
    filterset_class = f.ScheduleFilter
    ordering_fields = ("name", "created_at", "updated_at")
    queryset = Schedule.objects.none()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Schedule]:
        return schedule_list()

    def _fresh(self, schedule: Schedule) -> dict[str, Any]:
        return dict(s.ScheduleSerializer(schedule_list().get(pk=schedule.pk)).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.ScheduleSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        return Response(self._fresh(data.save()), status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.ScheduleSerializer(
            self.get_object(), data=request.data, partial=True, context=self.get_serializer_context()
        )
        data.is_valid(raise_exception=True)
        return Response(self._fresh(data.save()))

    def perform_destroy(self, instance: Schedule) -> None:
        services.schedule_delete(schedule=instance)

    @extend_schema(
        parameters=[
            OpenApiParameter("start", str, description="ISO date-time (inclusive)", required=True),
            OpenApiParameter("end", str, description="ISO date-time (exclusive), at most 62 days after start"),
        ],
        responses=s.ShiftSerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def shifts(self, request: Request, public_id: str) -> Response:
        """Who is on call over [start, end): the final shifts (layers stacked, overrides applied)."""
        query = s.ShiftQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = schedule_shift_rows(schedule=self.get_object(), **query.validated_data)
        body = [
            {
                "user": _name(r.user),
                "start": r.start,
                "end": r.end,
                "layer": r.layer,
                "override": r.override.public_id if r.override else None,
            }
            for r in rows
        ]
        return Response(s.ShiftSerializer(body, many=True).data)


class OverrideViewSet(viewsets.ModelViewSet[Override]):
    """Overrides: someone on call on a schedule for [start, end), instead of or beside the layers' user."""

    lookup_field = "public_id"
    serializer_class = s.OverrideSerializer
    permission_classes = (ModelPermissions,)
    filterset_class = f.OverrideFilter
    ordering_fields = ("start", "end", "created_at")
    queryset = Override.objects.none()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Override]:
        return override_list()

    def perform_destroy(self, instance: Override) -> None:
        services.override_delete(override=instance)


class PolicyViewSet(viewsets.ModelViewSet[EscalationPolicy]):
    """Escalation policies with their ordered steps; writing ``steps`` replaces them all. Running escalations keep
    the snapshot taken when their incident triggered."""

    lookup_field = "public_id"
    serializer_class = s.PolicySerializer
    permission_classes = (ModelPermissions,)
    filterset_class = f.PolicyFilter
    ordering_fields = ("name", "updated_at")
    queryset = EscalationPolicy.objects.none()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[EscalationPolicy]:
        return policy_list()

    def _fresh(self, policy: EscalationPolicy) -> dict[str, Any]:
        return dict(s.PolicySerializer(policy_list().get(pk=policy.pk)).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.PolicySerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        return Response(self._fresh(data.save()), status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.PolicySerializer(
            self.get_object(), data=request.data, partial=True, context=self.get_serializer_context()
        )
        data.is_valid(raise_exception=True)
        return Response(self._fresh(data.save()))

    def perform_destroy(self, instance: EscalationPolicy) -> None:
        services.policy_delete(policy=instance)


class ContactMethodViewSet(viewsets.ModelViewSet[ContactMethod]):
    """My contact methods (administrators: everyone's). Addresses and secrets are write-only; reads mask them.
    ``test/`` sends the caller a test message through their methods."""

    lookup_field = "public_id"
    serializer_class = s.ContactMethodSerializer
    permission_classes = (ModelPermissions,)
    filterset_class = f.ContactMethodFilter
    ordering_fields = ("kind", "created_at")
    queryset = ContactMethod.objects.none()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[ContactMethod]:
        return contact_method_list(user=request_user(self.request))

    def perform_destroy(self, instance: ContactMethod) -> None:
        services.contact_method_delete(contact_method=instance)

    @extend_schema(request=None, responses={202: s.TestSentSerializer})
    @action(detail=False, methods=["post"])
    def test(self, request: Request) -> Response:
        """Send me a test message now (as a hand-off notice reaches me)."""
        me = request_user(request)
        deliveries = services.contact_test_send(user=me, actor=me)
        return Response({"deliveries": len(deliveries)}, status=status.HTTP_202_ACCEPTED)


class NotificationRuleViewSet(viewsets.ModelViewSet[NotificationRule]):
    """My notification rules (administrators: everyone's): page this contact method so many minutes after I am
    notified. The contact method must be the rule owner's own."""

    serializer_class = s.NotificationRuleSerializer
    permission_classes = (ModelPermissions,)
    filterset_class = f.NotificationRuleFilter
    ordering_fields = ("delay_minutes",)
    queryset = NotificationRule.objects.none()
    lookup_field = "public_id"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[NotificationRule]:
        return notification_rule_list(user=request_user(self.request))


class NowView(APIView):
    """Who is on call now and next on every schedule, or on one (``?schedule=<id or name>``), with a gap flag."""

    permission_classes = (ModelPermissions,)
    queryset = Schedule.objects.none()  # ModelPermissions reads the model from it: GET needs view_schedule

    @extend_schema(
        parameters=[OpenApiParameter("schedule", str, description="A schedule's id or exact name")],
        responses=s.NowListSerializer,
    )
    def get(self, request: Request) -> Response:
        ref = request.query_params.get("schedule", "").strip()
        if "\x00" in ref:  # PostgreSQL cannot compare text with NUL in it
            raise ValidationError({"schedule": ["Null characters are not allowed."]})
        if ref:
            schedule = schedule_by_ref(ref)
            if schedule is None:
                raise NotFound(f"No schedule {ref!r}.", fields={"schedule": ["no schedule with this id or name"]})
            schedules = [schedule]
        else:
            schedules = list(Schedule.objects.order_by("name"))
        at = timezone.now()
        body = {"at": at, "results": [_now_body(row) for row in oncall_now_all(at=at, schedules=schedules)]}
        return Response(s.NowListSerializer(body).data)
