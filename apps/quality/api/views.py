"""The data-quality API: rules (and test runs of saved or unsaved rules), scans, results with their failing-row
samples, and each dataset's quality with its scan schedule.

Reads need the quality app's view permissions. Writes need the model permission *and* stewardship of the dataset
concerned (``apps.catalog.stewardship``: its stewards and owners, or an administrator); anyone else gets 403
``not_dataset_steward``. Writes call one service each (``apps.quality.services``/``schedules``); scans and test runs
are queued, so they answer 202 with the queued scan.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from apps.catalog.models import Dataset
from apps.catalog.stewardship import require_steward
from apps.common.api.permissions import ActionPermissions
from apps.common.api.views import request_user
from apps.quality import selectors
from apps.quality.api import serializers as s
from apps.quality.api.filters import DatasetQualityFilter, ResultFilter, RuleFilter, ScanFilter
from apps.quality.models import QualityResult, QualityRule, QualityScan
from apps.quality.rules import RuleInvalid, RuleSpec
from apps.quality.samples import samples_view
from apps.quality.schedules import schedule_set
from apps.quality.services import rule_delete, rule_save, rule_test_run, scan_cancel, scan_request


# --- querysets the views read (with what their serializers need loaded) -------------------------------------------
def scan_detail_list() -> QuerySet[QualityScan]:
    """Scans with their results (without samples) and each result's rule."""
    results = QualityResult.objects.defer("samples").select_related("rule").order_by("rule_name", "pk")
    return selectors.scan_list().prefetch_related(Prefetch("results", queryset=results))


def _scan_response(scan: QualityScan, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(s.QualityScanDetailSerializer(scan_detail_list().get(pk=scan.pk)).data, status=status_code)


# --- rules ------------------------------------------------------------------------------------------------------
ADD_SCAN = ("quality.add_qualityscan",)


class RuleViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet[QualityRule]
):
    """Quality rules by UUID. Writes go through ``rule_save`` (invalid rules answer 400 naming each problem) and need
    stewardship of the rule's dataset; ``test/`` evaluates a saved or an unsaved rule on a sample (202, a test scan
    that changes no score or alert)."""

    lookup_field = "public_id"
    filterset_class = RuleFilter
    ordering_fields = ("name", "created_at", "updated_at", "last_result_at")
    permission_classes = (ActionPermissions,)
    action_perms = {"test_saved": ADD_SCAN, "test_unsaved": ADD_SCAN}
    serializer_class = s.QualityRuleSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    queryset = QualityRule.objects.none()

    def get_queryset(self) -> QuerySet[QualityRule]:
        return selectors.rule_list()

    @extend_schema(request=s.QualityRuleInputSerializer, responses={201: s.QualityRuleSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.QualityRuleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = request_user(request)
        values = dict(data.validated_data)
        require_steward(user=user, dataset=values["dataset"])
        values.setdefault("owner", user)
        rule = rule_save(rule=QualityRule(**values))
        return Response(s.QualityRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.QualityRuleInputSerializer, responses=s.QualityRuleSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rule = self.get_object()
        require_steward(user=request_user(request), dataset=rule.dataset)
        data = s.QualityRuleInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "dataset" in values and values.pop("dataset").pk != rule.dataset_id:
            raise RuleInvalid(
                "A rule's dataset cannot be changed; create the rule on the other dataset.",
                fields={"dataset": ["cannot be changed"]},
            )
        for name, value in values.items():
            setattr(rule, name, value)
        return Response(s.QualityRuleSerializer(rule_save(rule=rule)).data)

    def perform_destroy(self, instance: QualityRule) -> None:
        require_steward(user=request_user(self.request), dataset=instance.dataset)
        rule_delete(rule=instance)

    @extend_schema(
        operation_id="quality_rules_test_saved",
        request=s.RuleTestRunSerializer,
        responses={202: s.QualityScanDetailSerializer},
    )
    @action(detail=True, methods=["post"], url_path="test", url_name="test-saved")
    def test_saved(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Evaluate this rule on the first ``sample_rows`` rows of its dataset (default 10,000)."""
        rule = self.get_object()
        user = request_user(request)
        require_steward(user=user, dataset=rule.dataset)
        data = s.RuleTestRunSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scan = rule_test_run(spec=RuleSpec.of(rule), requested_by=user, **data.validated_data)
        return _scan_response(scan, status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="quality_rules_test_unsaved",
        request=s.RuleDefinitionTestSerializer,
        responses={202: s.QualityScanDetailSerializer},
    )
    @action(detail=False, methods=["post"], url_path="test", url_name="test-unsaved")
    def test_unsaved(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Evaluate a rule that is not saved (nothing is saved but the test scan)."""
        data = s.RuleDefinitionTestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        user = request_user(request)
        require_steward(user=user, dataset=values["dataset"])
        sample_rows = values.pop("sample_rows", None)
        options = {} if sample_rows is None else {"sample_rows": sample_rows}
        scan = rule_test_run(spec=RuleSpec(**values), requested_by=user, **options)
        return _scan_response(scan, status.HTTP_202_ACCEPTED)


# --- scans ------------------------------------------------------------------------------------------------------
class ScanViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet[QualityScan]
):
    """Scans, newest first. One scan reads with its results (no sample values) and its Spark run; requesting or
    cancelling one needs stewardship of its dataset."""

    lookup_field = "public_id"
    filterset_class = ScanFilter
    ordering_fields = ("created_at", "finished_at", "quality_score", "trust_score")
    permission_classes = (ActionPermissions,)
    action_perms = {"cancel": ("quality.change_qualityscan",)}
    queryset = QualityScan.objects.none()

    def get_queryset(self) -> QuerySet[QualityScan]:
        # The list shows neither the rules sent nor the score details: leave those (large) columns unread.
        return selectors.scan_list().defer("rules", "score_details") if self.action == "list" else scan_detail_list()

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        return s.QualityScanSerializer if self.action == "list" else s.QualityScanDetailSerializer

    @extend_schema(request=s.ScanRequestSerializer, responses={202: s.QualityScanDetailSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Queue a scan of every enabled rule of the dataset."""
        data = s.ScanRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = request_user(request)
        dataset = data.validated_data["dataset"]
        require_steward(user=user, dataset=dataset)
        scan = scan_request(
            dataset=dataset,
            requested_by=user,
            partitions=data.validated_data.get("partitions", ()),
            samples=data.validated_data.get("samples"),
        )
        return _scan_response(scan, status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=s.QualityScanDetailSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Cancel a queued or running scan (its Spark run); the scan is marked failed once the run is recorded."""
        scan = self.get_object()
        user = request_user(request)
        require_steward(user=user, dataset=scan.dataset)
        return _scan_response(scan_cancel(scan=scan, actor=user))


# --- results ----------------------------------------------------------------------------------------------------
class ResultViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[QualityResult]):
    """What each rule found in each scan, newest scan first. Sample values are only in ``samples/``."""

    lookup_field = "public_id"
    filterset_class = ResultFilter
    ordering_fields = ("created_at", "rule_name", "failing_fraction")
    permission_classes = (ActionPermissions,)
    serializer_class = s.QualityResultSerializer
    queryset = QualityResult.objects.none()

    def get_queryset(self) -> QuerySet[QualityResult]:
        return selectors.result_list()

    @extend_schema(responses=s.SamplesSerializer)
    @action(detail=True, methods=["get"])
    def samples(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The failing rows kept for this result; personal columns masked unless the caller may see them (holders
        of ``quality.unmask_samples``, the dataset's stewards and owners), in which case the read is audited."""
        view = samples_view(result=self.get_object(), user=request_user(request))
        return Response(s.SamplesSerializer(view).data)


# --- datasets ---------------------------------------------------------------------------------------------------
VIEW_RULES = ("quality.view_qualityrule",)


class DatasetQualityViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Dataset]):
    """The quality of each catalog dataset that has rules: rule counts, the latest scan's quality and trust scores,
    the schedule, and (one dataset) the daily trend. ``schedule/`` sets how the dataset is scanned."""

    lookup_field = "public_id"
    filterset_class = DatasetQualityFilter
    ordering_fields = ("name", "namespace", "rules", "failing_rules")
    permission_classes = (ActionPermissions,)
    action_perms = {"list": VIEW_RULES, "retrieve": VIEW_RULES, "schedule": ("quality.change_scanschedule",)}
    http_method_names = ["get", "put", "head", "options"]
    queryset = Dataset.objects.none()

    def get_queryset(self) -> QuerySet[Dataset]:
        # A schedule may be set before the dataset's first rule.
        return Dataset.objects.all() if self.action == "schedule" else selectors.dataset_quality_list()

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        return s.DatasetQualitySerializer if self.action == "list" else s.DatasetQualityDetailSerializer

    def paginate_queryset(self, queryset: QuerySet[Dataset]) -> list[Dataset] | None:  # type: ignore[override]
        page = super().paginate_queryset(queryset)
        return None if page is None else selectors.attach_latest_scans(list(page))

    def get_object(self) -> Dataset:
        dataset = super().get_object()
        return dataset if self.action == "schedule" else selectors.attach_latest_scans([dataset])[0]

    @extend_schema(request=s.ScheduleInputSerializer, responses=s.ScanScheduleSerializer)
    @action(detail=True, methods=["put"])
    def schedule(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Scan on request only (``manual``), on a cron schedule in UTC (``cron``: a django-celery-beat entry), or on
        each new partition (``partition``)."""
        dataset = self.get_object()
        require_steward(user=request_user(request), dataset=dataset)
        data = s.ScheduleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        schedule = schedule_set(dataset=dataset, **data.validated_data)
        return Response(s.ScanScheduleSerializer(schedule).data)
