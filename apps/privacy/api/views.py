"""The privacy API for integrators: record consent (one decision or many), check consent for an identity and a
purpose, look a subject up by an identity and read its consent history, and the consent report. Identities are sent
in bodies only. Reading a subject's history is an audited read of personal data."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.audit.services import audit_record_read
from apps.common.api.permissions import ActionPermissions, ModelPermissions
from apps.common.api.views import request_user
from apps.common.errors import NotFound
from apps.privacy import services
from apps.privacy.api import serializers as s
from apps.privacy.models import ConsentEvent, DataSubject, DataSubjectRequest, RequestRun
from apps.privacy.requests import request_create

VIEW = ("privacy.view_consentevent",)
READ_SUBJECTS = ("privacy.view_datasubject",)
READ_REQUESTS = "privacy.view_datasubjectrequest"
FILE_REQUESTS = "privacy.add_datasubjectrequest"


class ConsentViewSet(viewsets.GenericViewSet[ConsentEvent]):
    """``POST consent/`` records one decision (an object) or many (a list, all or nothing); ``check/`` answers
    granted, denied, unknown or restricted; ``report/`` counts decisions per purpose and day."""

    permission_classes = (ActionPermissions,)
    action_perms = {"check": VIEW, "report": VIEW}
    serializer_class = s.ConsentInSerializer
    queryset = ConsentEvent.objects.none()
    # Nothing here is a paginated list; without this the schema documents the lists as paginated envelopes.
    pagination_class = None

    @extend_schema(request=s.ConsentInSerializer(many=True), responses={201: s.ConsentEventSerializer(many=True)})
    def create(self, request: Request) -> Response:
        many = isinstance(request.data, list)
        data = s.ConsentInSerializer(data=request.data, many=many)
        data.is_valid(raise_exception=True)
        items = [
            services.ConsentIn(**{name: row[name] for name in services.ConsentIn.__dataclass_fields__})
            for row in (data.validated_data if many else [data.validated_data])
        ]
        events = services.consent_record_many(items=items, recorded_by=request_user(request))
        body = s.ConsentEventSerializer(
            ConsentEvent.objects.filter(pk__in=[e.pk for e in events]).select_related("subject", "purpose"), many=True
        ).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ConsentCheckInSerializer, responses=s.ConsentCheckSerializer)
    @action(detail=False, methods=["post"])
    def check(self, request: Request) -> Response:
        data = s.ConsentCheckInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        answer = services.consent_check(**data.validated_data)
        return Response(s.ConsentCheckSerializer(answer).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("since", str, description="ISO date-time (inclusive)", required=True),
            OpenApiParameter("until", str, description="ISO date-time (exclusive)", required=True),
        ],
        responses=s.ReportRowSerializer(many=True),
    )
    @action(detail=False, methods=["get"])
    def report(self, request: Request) -> Response:
        query = s.ReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = services.consent_report(**query.validated_data)
        return Response(s.ReportRowSerializer(rows, many=True).data)


class SubjectViewSet(viewsets.GenericViewSet[DataSubject]):
    """``POST subjects/lookup/`` finds a subject by an identity; ``GET subjects/{id}/consent/`` is its consent
    history (an audited read)."""

    lookup_field = "public_id"
    permission_classes = (ActionPermissions,)
    action_perms = {"lookup": READ_SUBJECTS, "consent": READ_SUBJECTS + VIEW}
    serializer_class = s.SubjectSerializer
    queryset = DataSubject.objects.none()

    def get_queryset(self) -> QuerySet[DataSubject]:
        return DataSubject.objects.prefetch_related("identities")

    def _subject(self, subject: DataSubject) -> dict[str, Any]:
        return {
            "public_id": subject.public_id,
            "identity_kinds": sorted({i.kind for i in subject.identities.all()}),
            "restricted": subject.restricted,
            "created_at": subject.created_at,
        }

    @extend_schema(request=s.IdentitySerializer, responses=s.SubjectSerializer)
    @action(detail=False, methods=["post"])
    def lookup(self, request: Request) -> Response:
        data = s.IdentitySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subject = services.subject_find(**data.validated_data)
        if subject is None:
            raise NotFound("No data subject is known by this identity.")
        return Response(s.SubjectSerializer(self._subject(subject)).data)

    @extend_schema(responses=s.ConsentEventSerializer(many=True))
    @action(detail=True, methods=["get"])
    def consent(self, request: Request, public_id: str) -> Response:
        subject = self.get_object()
        events = list(services.consent_history(subject=subject).select_related("subject"))
        audit_record_read(
            target=subject, fields_shown=["consent_history"], purpose="privacy: consent history", rows=len(events)
        )
        return Response(s.ConsentEventSerializer(events, many=True).data)


class RequestPermissions(ModelPermissions):
    """Filing needs ``add_datasubjectrequest``; reading needs ``view_datasubjectrequest``, except that whoever may
    file reads the status of the requests they filed themselves (the view's queryset then holds only those)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if request.method in ("GET", "HEAD") and user and user.has_perm(FILE_REQUESTS):
            return True
        return super().has_permission(request, view)


class RequestViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet[DataSubjectRequest]):
    """``POST requests/`` takes a data-subject request in (201 with its reference and deadlines);
    ``GET requests/{id}/`` answers its status, deadlines and timeline."""

    lookup_field = "public_id"
    permission_classes = (RequestPermissions,)
    serializer_class = s.RequestSerializer
    queryset = DataSubjectRequest.objects.none()

    def get_queryset(self) -> QuerySet[DataSubjectRequest]:
        runs = Prefetch("runs", queryset=RequestRun.objects.select_related("certificate", "package"))
        requests = DataSubjectRequest.objects.select_related("subject", "duplicate_of").prefetch_related(
            "timeline", runs
        )
        if not self.request.user.has_perm(READ_REQUESTS):
            # Integrators file requests and follow their own; they never read anyone else's.
            requests = requests.filter(created_by=request_user(self.request))
        return requests

    @extend_schema(request=s.RequestInSerializer, responses={201: s.RequestSerializer})
    def create(self, request: Request) -> Response:
        data = s.RequestInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        created = request_create(
            kind=values.pop("kind"), value=values.pop("value"), created_by=request_user(request), **values
        )
        return Response(
            s.RequestSerializer(self.get_queryset().get(pk=created.pk)).data, status=status.HTTP_201_CREATED
        )
