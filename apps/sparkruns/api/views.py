"""The Spark runs API: list and read runs, request one, cancel, re-submit, read its log tail."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.api.permissions import ModelPermissions
from apps.common.api.views import request_user
from apps.sparkruns.api.serializers import SparkRunLogsSerializer, SparkRunRequestSerializer, SparkRunSerializer
from apps.sparkruns.models import SparkRun
from apps.sparkruns.selectors import spark_run_list
from apps.sparkruns.services import backend_get, spark_run_cancel, spark_run_request, spark_run_resubmit


class RunPermissions(ModelPermissions):
    """Reads need ``view_sparkrun``; requesting a run ``add``; cancelling and re-submitting ``change``."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if getattr(view, "action", None) in ("cancel", "resubmit"):
            return bool(request.user and request.user.has_perm("sparkruns.change_sparkrun"))
        return super().has_permission(request, view)


class SparkRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet[SparkRun]
):
    """Spark runs, newest first, addressed by UUID."""

    lookup_field = "public_id"
    serializer_class = SparkRunSerializer
    permission_classes = (RunPermissions,)
    filterset_fields = ("job", "state", "backend")
    queryset = SparkRun.objects.none()

    def get_queryset(self) -> QuerySet[SparkRun]:
        return spark_run_list()

    @extend_schema(request=SparkRunRequestSerializer, responses={201: SparkRunSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = SparkRunRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = spark_run_request(requested_by=request_user(request), **data.validated_data)
        return Response(SparkRunSerializer(run).data, status=201)

    @extend_schema(request=None, responses=SparkRunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, public_id: str) -> Response:
        run = spark_run_cancel(run=self.get_object(), actor=request_user(request))
        return Response(SparkRunSerializer(run).data)

    @extend_schema(request=None, responses={201: SparkRunSerializer})
    @action(detail=True, methods=["post"])
    def resubmit(self, request: Request, public_id: str) -> Response:
        run = spark_run_resubmit(run=self.get_object(), requested_by=request_user(request))
        return Response(SparkRunSerializer(run).data, status=201)

    @extend_schema(responses=SparkRunLogsSerializer)
    @action(detail=True, methods=["get"])
    def logs(self, request: Request, public_id: str) -> Response:
        run = self.get_object()
        text = backend_get(run.backend).logs(run.handle, tail=200) if run.handle else ""
        return Response({"logs": text})
