"""The auditors' API: sealed events (list, detail, CSV export), per-user access report, compliance summary, and a
verification of the chain. Open to superusers and the auditor, compliance officer and admin roles.

Every response showing events is itself recorded as a read of personal data (addresses, user agents, who did what);
the purpose comes from ``X-Purpose`` or ``?purpose=`` and defaults to ``audit``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, renderers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.access import PURPOSE_HEADER, PURPOSE_PARAM, record_api_read, request_purpose
from apps.audit.api.filters import AuditEventFilter
from apps.audit.api.serializers import (
    AccessReportQuerySerializer,
    AccessReportSerializer,
    AuditEventSerializer,
    ComplianceSummarySerializer,
    ReportWindowSerializer,
    VerifyReportSerializer,
)
from apps.audit.canonical import CANONICAL_FIELDS, JSON_FIELDS
from apps.audit.choices import AuditAction
from apps.audit.context import AuditContext, current_context
from apps.audit.models import AuditEvent
from apps.audit.selectors import access_report, audit_event_list, compliance_summary
from apps.audit.services import audit_record, audit_verify_run
from apps.common.roles import ADMIN, AUDITOR, COMPLIANCE_OFFICER

AUDIT_READER_ROLES = (AUDITOR, COMPLIANCE_OFFICER, ADMIN)
EVENT_TYPE = "audit.auditevent"
DEFAULT_PURPOSE = "audit"
# What makes an event personal data: who acted, from where, with which client.
PERSONAL_EVENT_FIELDS = ("actor", "ip", "user_agent")
EXPORT_CHUNK = 2000
# The sealed event as stored: its sequence number, every hashed column, and its place in the chain.
EXPORT_COLUMNS = ("seq", *CANONICAL_FIELDS, "prev_hash", "hash")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PURPOSE_PARAMETERS = [
    OpenApiParameter(
        PURPOSE_PARAM, str, description="Why you read this (recorded with the read); default `audit`. Or `X-Purpose`."
    ),
    OpenApiParameter(PURPOSE_HEADER, str, location=OpenApiParameter.HEADER, description="Same as `purpose`."),
]


class IsAuditReader(permissions.BasePermission):
    """Superusers and members of the ``auditor``, ``compliance_officer`` or ``admin`` roles."""

    message = "Only auditors, compliance officers and administrators may read the audit log."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and (user.is_superuser or user.groups.filter(name__in=AUDIT_READER_ROLES).exists())
        )


class CSVRenderer(renderers.BaseRenderer):
    """``text/csv``: rows are streamed by the view; this renders only error bodies, one row per message."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        writer = csv.writer(_Echo())
        body: dict[str, Any] = data if isinstance(data, dict) else {"detail": str(data)}
        code, detail = str(body.get("code", "")), str(body.get("detail", ""))
        fields: dict[str, list[str]] = body.get("fields") or {}
        messages = [(name, message) for name, texts in fields.items() for message in texts] or [("", "")]
        lines = [writer.writerow(["code", "detail", "field", "message"])]
        lines += [writer.writerow([code, detail, name, message]) for name, message in messages]
        return "".join(lines).encode(self.charset)


class _Echo:
    """A file-like object whose ``write`` hands back the line, so ``csv.writer`` can feed a generator."""

    def write(self, value: str) -> str:
        return value


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column in JSON_FIELDS:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if column == "occurred_at":
        return str(value.isoformat())
    text = str(value)
    # A cell starting like a formula would run in a spreadsheet: neutralise it (OWASP CSV injection advice).
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _query_summary(request: Request) -> dict[str, Any]:
    return {key: values[0] if len(values) == 1 else values for key, values in request.query_params.lists()}


def export_stream(queryset: QuerySet[AuditEvent], *, context: AuditContext, filters: dict[str, Any]) -> Iterator[str]:
    """The CSV text in chunks of rows; when it ends (or the client goes away) the export is recorded with the exact
    number of rows sent, under the context of the request that asked for it."""
    writer = csv.writer(_Echo())
    sent = 0
    complete = False
    try:
        yield writer.writerow(EXPORT_COLUMNS)
        chunk: list[str] = []
        for row in queryset.values_list(*EXPORT_COLUMNS).iterator(chunk_size=EXPORT_CHUNK):
            chunk.append(writer.writerow([_cell(c, v) for c, v in zip(EXPORT_COLUMNS, row, strict=True)]))
            if len(chunk) == EXPORT_CHUNK:
                sent += len(chunk)  # counted before handing over: a client leaving here has received them
                yield "".join(chunk)
                chunk = []
        if chunk:
            sent += len(chunk)
            yield "".join(chunk)
        complete = True
    finally:
        audit_record(
            action=AuditAction.EXPORT,
            target_type=EVENT_TYPE,
            rows=sent,
            details={"fields": list(EXPORT_COLUMNS), "filters": filters, "complete": complete},
            context=context,
        )


class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[AuditEvent]):
    """Sealed audit events, newest first, addressed by their sequence number in the chain."""

    queryset = AuditEvent.objects.none()  # the real one comes from get_queryset(); this types the schema
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    permission_classes = (permissions.IsAuthenticated, IsAuditReader)
    ordering_fields = ("seq", "occurred_at", "risk_score")
    ordering = ("-seq",)
    lookup_field = "seq"
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet[AuditEvent]:
        return audit_event_list(filters={})

    def get_view_name(self) -> str:
        return "Audit events"

    @extend_schema(parameters=PURPOSE_PARAMETERS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        events: list[AuditEvent] = list(page if page is not None else queryset)
        data = self.get_serializer(events, many=True).data
        record_api_read(
            request,
            target_type=EVENT_TYPE,
            fields=PERSONAL_EVENT_FIELDS,
            rows=len(events),
            default_purpose=DEFAULT_PURPOSE,
        )
        return self.get_paginated_response(data) if page is not None else Response(data)

    @extend_schema(parameters=PURPOSE_PARAMETERS)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        event = self.get_object()
        data = self.get_serializer(event).data
        record_api_read(
            request,
            target_type=EVENT_TYPE,
            target_id=str(event.seq),
            fields=PERSONAL_EVENT_FIELDS,
            rows=1,
            default_purpose=DEFAULT_PURPOSE,
        )
        return Response(data)

    @extend_schema(
        filters=True,
        parameters=PURPOSE_PARAMETERS,
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="Every matching event (no row limit), streamed as CSV; JSON columns hold JSON text.",
            )
        },
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export",
        renderer_classes=[renderers.JSONRenderer, CSVRenderer],
        pagination_class=None,
    )
    def export(self, request: Request) -> StreamingHttpResponse:
        """All matching events as a CSV download (same filters as the list); the export is recorded when it ends."""
        queryset = self.filter_queryset(self.get_queryset())
        context = replace(current_context(), purpose=request_purpose(request, DEFAULT_PURPOSE))
        response = StreamingHttpResponse(
            export_stream(queryset, context=context, filters=_query_summary(request)),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="audit-events.csv"'
        return response


class AccessReportView(APIView):
    """What one user did in a window: actions, personal data read or exported and why, failures, addresses, risk."""

    permission_classes = (permissions.IsAuthenticated, IsAuditReader)

    @extend_schema(parameters=[AccessReportQuerySerializer, *PURPOSE_PARAMETERS], responses=AccessReportSerializer)
    def get(self, request: Request) -> Response:
        query = AccessReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        report = access_report(user_public_id=params["user"], since=params["since"], until=params["until"])
        data = AccessReportSerializer(report).data
        record_api_read(
            request,
            target=report.user,
            fields=("actions", "ips", "personal_data", *PERSONAL_EVENT_FIELDS),
            rows=1,
            default_purpose=DEFAULT_PURPOSE,
        )
        return Response(data)

    def get_view_name(self) -> str:
        return "Access report"


class ComplianceSummaryView(APIView):
    """The audit log in a window: counts, failures, risky events, security alerts, and the verified chain."""

    permission_classes = (permissions.IsAuthenticated, IsAuditReader)

    @extend_schema(parameters=[ReportWindowSerializer, *PURPOSE_PARAMETERS], responses=ComplianceSummarySerializer)
    def get(self, request: Request) -> Response:
        query = ReportWindowSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        summary = compliance_summary(since=query.validated_data["since"], until=query.validated_data["until"])
        data = ComplianceSummarySerializer(summary).data
        record_api_read(
            request,
            target_type=EVENT_TYPE,
            fields=PERSONAL_EVENT_FIELDS,
            rows=summary.events_shown,
            default_purpose=DEFAULT_PURPOSE,
        )
        return Response(data)

    def get_view_name(self) -> str:
        return "Compliance summary"


class VerifyView(APIView):
    """Seal pending events and verify the whole chain against the external anchors; the run is recorded.

    Answers 200 either way: ``ok`` is false and ``first_bad_seq`` names the first bad event when the chain is broken.
    """

    permission_classes = (permissions.IsAuthenticated, IsAuditReader)

    @extend_schema(request=None, responses={status.HTTP_200_OK: VerifyReportSerializer})
    def post(self, request: Request) -> Response:
        report = audit_verify_run()
        return Response(VerifyReportSerializer(report.as_dict()).data)

    def get_view_name(self) -> str:
        return "Verify the chain"
