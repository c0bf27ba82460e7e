"""The lineage API: OpenLineage intake (``POST /api/v1/lineage``, also with the trailing slash), the graph and its
CSV export, and read-only jobs, runs and raw events addressed by UUID."""

from __future__ import annotations

import csv
import json
import re
import zlib
from collections.abc import Iterator
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from apps.common.api.parsers import json_problem
from apps.common.api.permissions import ModelPermissions
from apps.common.api.views import request_user
from apps.common.errors import DomainError, NotFound
from apps.lineage.api import serializers as s
from apps.lineage.api.filters import JobFilter, LineageEventFilter, RunFilter
from apps.lineage.graph import GraphRoot, lineage_graph_document
from apps.lineage.ingest import parse_body
from apps.lineage.models import Job, LineageEvent, Run
from apps.lineage.selectors import (
    event_list,
    graph_root,
    job_list,
    lineage_graph_rows,
    run_list,
)
from apps.lineage.services import events_store

UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._=-]+")
MAX_BODY_BYTES = 2 * 1024 * 1024  # a request body, after gzip decompression; larger arrays are split by the client
CSV_COLUMNS = (
    "record", "id", "type", "namespace", "name", "field", "hops", "side",
    "source", "target", "job", "transformation_type", "transformation_subtype", "masking",
)  # fmt: skip


class PayloadTooLarge(DomainError):
    """The request body is larger than the intake accepts."""

    code = "payload_too_large"
    status = 413


class IntakePermission(BasePermission):
    """Posting events needs ``lineage.add_lineageevent``; the index needs a login."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        return request.method != "POST" or user.has_perm("lineage.add_lineageevent")


class GraphPermission(BasePermission):
    """Reading the graph needs ``lineage.view_datasetedge`` (and ``view_fieldedge`` for a field's graph)."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        wanted = ["lineage.view_datasetedge"] + (
            ["lineage.view_fieldedge"] if request.query_params.get("field") else []
        )
        return user.has_perms(wanted)


def _body(request: Request) -> Any:
    raw = request.body
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is larger than {MAX_BODY_BYTES} bytes; send fewer events per request.")
    if request.headers.get("Content-Encoding", "").lower() == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(raw, MAX_BODY_BYTES + 1)
        except zlib.error as exc:
            raise exceptions.ParseError("The body is not valid gzip.") from exc
        if len(raw) > MAX_BODY_BYTES or inflater.unconsumed_tail:
            raise PayloadTooLarge(f"The body inflates beyond {MAX_BODY_BYTES} bytes; send fewer events per request.")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise exceptions.ParseError("The body is not valid UTF-8 JSON.") from exc
    found = json_problem(body)
    if found:  # stored as jsonb: PostgreSQL refuses NUL, UTF-8 cannot hold a lone surrogate
        raise exceptions.ValidationError({found[0]: [found[1]]})
    return body


class LineageIntakeView(APIView):
    """OpenLineage intake: one RunEvent, DatasetEvent or JobEvent, or a JSON array of them (at most 1,000).

    Events are validated, stored (a repeat of a stored event is recognised and skipped) and answered at once:
    ``201`` when something new was stored, ``200`` when every event was already known. Processing into jobs, runs,
    the catalog and the graph happens right after, in a worker.
    """

    permission_classes = (IntakePermission,)

    @extend_schema(
        operation_id="lineage_events_ingest",
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            201: s.IntakeResultSerializer,
            200: s.IntakeResultSerializer,
            400: OpenApiResponse(description="Not valid OpenLineage; `fields` names each problem (`0.run.runId`)."),
            413: OpenApiResponse(description="Body over 2 MiB or more than 1,000 events."),
        },
        tags=["lineage"],
    )
    def post(self, request: Request) -> Response:
        events = parse_body(_body(request))
        result = events_store(events=events, submitted_by=request_user(request))
        answer = {"received": len(events), "stored": len(result.stored_ids), "duplicates": result.duplicates}
        return Response(answer, status=status.HTTP_201_CREATED if result.stored_ids else status.HTTP_200_OK)


class LineageRootView(LineageIntakeView):
    """``/api/v1/lineage/``: the index of the lineage resources (GET) and the intake (POST, as without the slash)."""

    schema = None  # documented once, at the path the OpenLineage clients post to

    def get(self, request: Request) -> Response:
        names = {"jobs": "job-list", "runs": "run-list", "events": "event-list", "graph": "graph"}
        return Response({key: reverse(f"api:lineage:{name}", request=request) for key, name in names.items()})


def _graph_query(request: Request) -> tuple[GraphRoot, dict[str, Any]]:
    query = s.GraphQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    params = query.validated_data
    root = graph_root(namespace=params["namespace"], name=params["name"], field_name=params.get("field"))
    if root is None:
        what = "field" if params.get("field") else "dataset"
        raise NotFound(f"No such {what} in the catalog.", fields={"field" if what == "field" else "name": ["unknown"]})
    return root, params


GRAPH_PARAMETERS = [
    OpenApiParameter("namespace", str, required=True, description="Dataset namespace, e.g. file:///lake."),
    OpenApiParameter("name", str, required=True, description="Dataset name, e.g. raw/orders."),
    OpenApiParameter("field", str, required=False, description="A field of the dataset: column-level lineage."),
    OpenApiParameter("direction", str, enum=["upstream", "downstream", "both"], description="Default downstream."),
    OpenApiParameter("depth", int, description="Hops, 1 to 20 (default 3)."),
]


class GraphView(APIView):
    """Impact analysis: datasets (or fields) within N hops upstream, downstream or both, the edges between them
    with their jobs and transformations, and the owners and stewards of the downstream datasets."""

    permission_classes = (GraphPermission,)

    @extend_schema(parameters=GRAPH_PARAMETERS, responses=s.GraphSerializer, operation_id="lineage_graph_retrieve")
    def get(self, request: Request) -> HttpResponse:
        root, params = _graph_query(request)
        # The answer comes back as finished JSON bytes (built by PostgreSQL for a hub's tens of thousands of nodes),
        # so it bypasses DRF's renderer rather than being decoded and encoded again.
        document = lineage_graph_document(root=root, direction=params["direction"], depth=params["depth"])
        return HttpResponse(document, content_type="application/json")


class _Echo:
    """A file-like object whose write returns the line, for streaming csv rows."""

    def write(self, value: str) -> str:
        return value


class GraphExportView(APIView):
    """The graph as CSV, streamed without a row cap: node rows first, then edge rows."""

    permission_classes = (GraphPermission,)

    @extend_schema(
        parameters=GRAPH_PARAMETERS,
        responses={(200, "text/csv"): OpenApiTypes.STR},
        operation_id="lineage_graph_export",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        root, params = _graph_query(request)
        writer = csv.writer(_Echo())

        def lines() -> Iterator[str]:
            yield writer.writerow(CSV_COLUMNS)
            for row in lineage_graph_rows(root=root, direction=params["direction"], depth=params["depth"]):
                yield writer.writerow(row)

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        # Names come from OpenLineage producers: anything but plain characters (quotes, line breaks, path separators)
        # would break out of the header or name a path, so it is replaced.
        stem = UNSAFE_FILENAME.sub("_", f"lineage-{root.name}{'-' + root.field if root.field else ''}")
        response["Content-Disposition"] = f'attachment; filename="{stem[:146]}.csv"'
        return response


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Job]):
    """Jobs known from OpenLineage events, with what they currently read and write; addressed by UUID."""

    queryset = Job.objects.none()
    serializer_class = s.JobSerializer
    filterset_class = JobFilter
    ordering_fields = ("namespace", "name", "updated_at")
    permission_classes = (ModelPermissions,)
    lookup_field = "public_id"
    lookup_url_kwarg = "id"

    def get_queryset(self) -> Any:
        return job_list().order_by("namespace", "name")


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Run]):
    """Runs, newest first, with their state, timings and the datasets they read and wrote; addressed by run id."""

    queryset = Run.objects.none()
    serializer_class = s.RunSerializer
    filterset_class = RunFilter
    ordering_fields = ("started_at", "ended_at", "last_event_time")
    permission_classes = (ModelPermissions,)
    lookup_field = "run_id"

    def get_queryset(self) -> Any:
        return run_list()


class LineageEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[LineageEvent]):
    """Stored OpenLineage events as received (read-only), with their processing status."""

    queryset = LineageEvent.objects.none()
    serializer_class = s.LineageEventSerializer
    filterset_class = LineageEventFilter
    ordering_fields = ("received_at", "event_time")
    permission_classes = (ModelPermissions,)
    lookup_field = "public_id"
    lookup_url_kwarg = "id"

    def get_queryset(self) -> Any:
        return event_list()
