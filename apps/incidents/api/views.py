"""The incidents API: incidents and their actions, timeline, alerts and postmortem; integrations, classification
rules, runbooks and maintenance windows. State changes are actions that call one service each."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from apps.common.api.permissions import ActionPermissions, ModelPermissions
from apps.common.api.views import request_user
from apps.common.errors import NotFound
from apps.configuration.services import config_get
from apps.incidents import services
from apps.incidents.api import serializers as s
from apps.incidents.api.filters import IncidentFilter
from apps.incidents.models import ClassificationRule, Incident, Integration, MaintenanceWindow, Postmortem, Runbook
from apps.incidents.selectors import incident_list


class IncidentPermissions(ModelPermissions):
    """Reads need ``view_incident``; every action needs ``change_incident``."""

    perms_map = {**ModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Incident]):
    """Incidents, newest first, addressed by UUID."""

    lookup_field = "public_id"
    filterset_class = IncidentFilter
    ordering_fields = ("triggered_at", "priority", "last_alert_at")
    permission_classes = (IncidentPermissions,)

    def get_queryset(self) -> QuerySet[Incident]:
        return incident_list()

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        return s.IncidentDetailSerializer if self.action != "list" else s.IncidentSerializer

    def _done(self, incident: Incident) -> Response:
        return Response(s.IncidentDetailSerializer(incident_list().get(pk=incident.pk)).data)

    @extend_schema(request=None, responses=s.IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, public_id: str) -> Response:
        return self._done(services.incident_acknowledge(incident=self.get_object(), actor=request_user(request)))

    @extend_schema(request=None, responses=s.IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def unacknowledge(self, request: Request, public_id: str) -> Response:
        return self._done(services.incident_unacknowledge(incident=self.get_object(), actor=request_user(request)))

    @extend_schema(request=s.ResolveSerializer, responses=s.IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, public_id: str) -> Response:
        data = s.ResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.incident_resolve(
            incident=self.get_object(), actor=request_user(request), resolution=data.validated_data["resolution"]
        )
        return self._done(incident)

    @extend_schema(request=s.SilenceSerializer, responses=s.IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def silence(self, request: Request, public_id: str) -> Response:
        data = s.SilenceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.incident_silence(
            incident=self.get_object(), actor=request_user(request), until=data.validated_data["until"]
        )
        return self._done(incident)

    @extend_schema(request=s.ReassignSerializer, responses=s.IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def reassign(self, request: Request, public_id: str) -> Response:
        data = s.ReassignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignee = get_user_model().objects.filter(public_id=data.validated_data["assignee"], is_active=True).first()
        if assignee is None:
            raise NotFound("No such user.", fields={"assignee": ["no active user with this id"]})
        incident = services.incident_reassign(
            incident=self.get_object(), actor=request_user(request), assignee=assignee
        )
        return self._done(incident)

    @extend_schema(request=s.EscalateSerializer, responses=s.IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def escalate(self, request: Request, public_id: str) -> Response:
        data = s.EscalateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.incident_escalate(
            incident=self.get_object(), actor=request_user(request), reason=data.validated_data["reason"]
        )
        return self._done(incident)

    @extend_schema(request=s.MergeSerializer, responses=s.IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, public_id: str) -> Response:
        data = s.MergeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = Incident.objects.filter(public_id=data.validated_data["into"]).first()
        if target is None:
            raise NotFound("No such incident.", fields={"into": ["no incident with this id"]})
        return self._done(services.incident_merge(source=self.get_object(), target=target, actor=request_user(request)))

    @extend_schema(responses=s.TimelineEntrySerializer(many=True))
    @action(detail=True, methods=["get"])
    def timeline(self, request: Request, public_id: str) -> Response:
        entries = self.get_object().timeline.order_by("at", "id")
        return Response(s.TimelineEntrySerializer(entries, many=True).data)

    @extend_schema(responses=s.AlertSerializer(many=True))
    @action(detail=True, methods=["get"])
    def alerts(self, request: Request, public_id: str) -> Response:
        return Response(s.AlertSerializer(self.get_object().alerts.order_by("-last_received_at"), many=True).data)

    @extend_schema(
        methods=["GET"], responses={200: s.PostmortemSerializer, 404: OpenApiResponse(description="No postmortem yet")}
    )
    @extend_schema(methods=["PUT"], request=s.PostmortemSerializer, responses=s.PostmortemSerializer)
    @action(detail=True, methods=["get", "put"])
    def postmortem(self, request: Request, public_id: str) -> Response:
        incident = self.get_object()
        if request.method == "GET":
            found = Postmortem.objects.filter(incident=incident).select_related("owner").first()
            if found is None:
                raise NotFound("This incident has no postmortem yet.")
            return Response(s.PostmortemSerializer(found).data)
        data = s.PostmortemSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        postmortem = services.postmortem_update(
            incident=incident, actor=request_user(request), **data.validated_changes()
        )
        return Response(s.PostmortemSerializer(postmortem).data)


class IntegrationViewSet(viewsets.ModelViewSet[Integration]):
    """Alert integrations; creating one (or rotating its token) answers the token once, with the intake URL."""

    lookup_field = "public_id"
    serializer_class = s.IntegrationSerializer
    permission_classes = (ActionPermissions,)
    # Rotating replaces the token an existing integration sends with: a change, not a creation.
    action_perms = {"rotate_token": ("incidents.change_integration",)}
    queryset = Integration.objects.order_by("name")
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def _created(self, integration: Integration, token: str, status: int) -> Response:
        data = dict(s.IntegrationSerializer(integration).data)
        base = str(config_get("incidents.public_base_url")).rstrip("/")
        data["token"] = token
        data["url"] = f"{base}/integrations/v1/{integration.kind}/{token}/"
        return Response(data, status=status)

    @extend_schema(responses={201: s.IntegrationCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.IntegrationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        integration, token = services.integration_create(
            kind=fields.pop("kind"), name=fields.pop("name"), created_by=request_user(request), **fields
        )
        return self._created(integration, token, 201)

    @extend_schema(request=None, responses=s.IntegrationCreatedSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-token")
    def rotate_token(self, request: Request, public_id: str) -> Response:
        integration = self.get_object()
        return self._created(integration, services.integration_rotate_token(integration=integration), 200)


class ClassificationRuleViewSet(viewsets.ModelViewSet[ClassificationRule]):
    """Classification rules in priority order (first match wins), addressed by UUID."""

    lookup_field = "public_id"
    serializer_class = s.ClassificationRuleSerializer
    permission_classes = (ModelPermissions,)
    queryset = ClassificationRule.objects.select_related("integration", "runbook").order_by("position", "name")


class RunbookViewSet(viewsets.ModelViewSet[Runbook]):
    """Runbooks (Markdown, rendered sanitised), addressed by slug."""

    lookup_field = "slug"
    serializer_class = s.RunbookSerializer
    permission_classes = (ModelPermissions,)
    queryset = Runbook.objects.order_by("title")


class MaintenanceWindowViewSet(viewsets.ModelViewSet[MaintenanceWindow]):
    """Maintenance windows: alerts are recorded, nobody is paged. Addressed by UUID."""

    lookup_field = "public_id"
    serializer_class = s.MaintenanceWindowSerializer
    permission_classes = (ModelPermissions,)
    queryset = MaintenanceWindow.objects.select_related("integration", "created_by").order_by("-starts_at")

    def perform_create(self, serializer: BaseSerializer[MaintenanceWindow]) -> None:
        serializer.save(created_by=self.request.user)
