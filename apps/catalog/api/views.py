"""The catalog API: datasets, fields and their categories, schema versions, glossary terms, the privacy taxonomy,
retention policies and the PII review queue. Writes call one service each; a steward changes only the datasets they
steward or own (``apps.catalog.stewardship``), an administrator every one. The catalog holds metadata only."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from apps.catalog import review, selectors, services
from apps.catalog.api import serializers as s
from apps.catalog.api.filters import DatasetFilter, FieldFilter, SchemaVersionFilter, SuggestionFilter
from apps.catalog.models import (
    DataCategory,
    Dataset,
    DataSubjectType,
    DataUse,
    Field,
    GlossaryTerm,
    PiiSuggestion,
    RetentionPolicy,
    SchemaVersion,
)
from apps.common.api.permissions import ModelPermissions
from apps.common.api.views import request_user
from apps.common.errors import NotFound


class ChangePermissions(ModelPermissions):
    """Reads need ``view_<model>``; actions (POST) and edits need ``change_<model>``."""

    perms_map = {**ModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


class DatasetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Dataset]):
    """Datasets by UUID; ``?search=`` ranks by full-text relevance. PATCH changes steward-kept metadata."""

    lookup_field = "public_id"
    filterset_class = DatasetFilter
    ordering_fields = ("name", "namespace", "updated_at", "row_count", "last_profiled_at")
    permission_classes = (ModelPermissions,)
    http_method_names = ["get", "patch", "head", "options"]
    queryset = Dataset.objects.none()

    def get_queryset(self) -> QuerySet[Dataset]:
        return selectors.dataset_list() if self.action == "list" else selectors.dataset_detail_list()

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        return s.DatasetSerializer if self.action == "list" else s.DatasetDetailSerializer

    @extend_schema(request=s.DatasetUpdateSerializer, responses=s.DatasetDetailSerializer)
    def partial_update(self, request: Request, public_id: str) -> Response:
        data = s.DatasetUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        dataset = services.dataset_update(dataset=self.get_object(), actor=request_user(request), **data.validated_data)
        return Response(s.DatasetDetailSerializer(selectors.dataset_detail_list().get(pk=dataset.pk)).data)


class FieldViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Field]):
    """Fields by UUID with their categories (own and inherited, with where they came from)."""

    lookup_field = "public_id"
    filterset_class = FieldFilter
    ordering_fields = ("name", "ordinal")
    permission_classes = (ChangePermissions,)
    serializer_class = s.FieldSerializer
    http_method_names = ["get", "patch", "post", "head", "options"]
    queryset = Field.objects.none()

    def get_queryset(self) -> QuerySet[Field]:
        return selectors.field_list()

    def _done(self, field: Field) -> Response:
        return Response(s.FieldSerializer(selectors.field_list().get(pk=field.pk)).data)

    @extend_schema(request=s.FieldUpdateSerializer, responses=s.FieldSerializer)
    def partial_update(self, request: Request, public_id: str) -> Response:
        data = s.FieldUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        terms = None
        if "glossary_terms" in changes:
            wanted = set(changes.pop("glossary_terms"))
            terms = list(GlossaryTerm.objects.filter(public_id__in=wanted))
            if len(terms) != len(wanted):
                raise NotFound("No such glossary term.", fields={"glossary_terms": ["unknown id"]})
        field = services.field_update(
            field=self.get_object(), actor=request_user(request), glossary_terms=terms, **changes
        )
        return self._done(field)

    @extend_schema(request=s.CategoryChangeSerializer, responses={201: s.FieldSerializer})
    @action(detail=True, methods=["post"], url_path="add-category")
    def add_category(self, request: Request, public_id: str) -> Response:
        data = s.CategoryChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        field = self.get_object()
        services.field_category_add(field=field, category=data.validated_data["category"], actor=request_user(request))
        response = self._done(field)
        response.status_code = status.HTTP_201_CREATED
        return response

    @extend_schema(request=s.CategoryChangeSerializer, responses=s.FieldSerializer)
    @action(detail=True, methods=["post"], url_path="remove-category")
    def remove_category(self, request: Request, public_id: str) -> Response:
        data = s.CategoryChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        field = self.get_object()
        services.field_category_remove(
            field=field, category=data.validated_data["category"], actor=request_user(request)
        )
        return self._done(field)


class SchemaVersionViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[SchemaVersion]):
    """Schema versions (newest first per dataset), with the difference from the version before."""

    filterset_class = SchemaVersionFilter
    ordering_fields = ("created_at", "version")
    permission_classes = (ModelPermissions,)
    serializer_class = s.SchemaVersionSerializer
    queryset = SchemaVersion.objects.none()

    def get_queryset(self) -> QuerySet[SchemaVersion]:
        return selectors.schema_version_list()


class GlossaryTermViewSet(viewsets.ModelViewSet[GlossaryTerm]):
    """Business terms; renaming one keeps the search text of the datasets that use it current."""

    lookup_field = "public_id"
    permission_classes = (ModelPermissions,)
    serializer_class = s.GlossaryTermSerializer
    ordering_fields = ("name", "created_at")
    filterset_fields = ("name",)
    queryset = GlossaryTerm.objects.none()

    def get_queryset(self) -> QuerySet[GlossaryTerm]:
        return selectors.glossary_term_list()

    def perform_create(self, serializer: BaseSerializer[GlossaryTerm]) -> None:
        data = serializer.validated_data
        serializer.instance = services.glossary_term_save(
            term=None, name=data["name"], definition=data["definition"], owner=request_user(self.request)
        )

    def perform_update(self, serializer: BaseSerializer[GlossaryTerm]) -> None:
        term = self.get_object()
        data = serializer.validated_data
        serializer.instance = services.glossary_term_save(
            term=term, name=data.get("name", term.name), definition=data.get("definition", term.definition)
        )


class _TaxonomyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Any]):
    lookup_field = "key"
    lookup_value_regex = r"[A-Za-z0-9_.\-]+"
    permission_classes = (ModelPermissions,)
    ordering_fields = ("key",)
    filterset_fields = ("parent_key", "is_active")


class DataCategoryViewSet(_TaxonomyViewSet):
    """Data categories (fideslang-compatible keys); a parent key covers its children."""

    serializer_class = s.DataCategorySerializer
    queryset = DataCategory.objects.none()

    def get_queryset(self) -> QuerySet[DataCategory]:
        return selectors.category_list()


class DataUseViewSet(_TaxonomyViewSet):
    """Purposes data is used for."""

    serializer_class = s.DataUseSerializer
    queryset = DataUse.objects.none()

    def get_queryset(self) -> QuerySet[DataUse]:
        return selectors.data_use_list()


class DataSubjectViewSet(_TaxonomyViewSet):
    """Kinds of people data is about."""

    serializer_class = s.DataSubjectSerializer
    queryset = DataSubjectType.objects.none()

    def get_queryset(self) -> QuerySet[DataSubjectType]:
        return selectors.data_subject_list()


class RetentionPolicyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Any]):
    """Retention policies datasets can be given."""

    lookup_field = "public_id"
    permission_classes = (ModelPermissions,)
    serializer_class = s.RetentionPolicySerializer
    queryset = RetentionPolicy.objects.none()

    def get_queryset(self) -> QuerySet[RetentionPolicy]:
        return RetentionPolicy.objects.order_by("name")


class PiiSuggestionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[PiiSuggestion]):
    """The PII review queue (``?status=pending``), most confident first; decisions are actions."""

    lookup_field = "public_id"
    filterset_class = SuggestionFilter
    ordering_fields = ("confidence", "created_at")
    permission_classes = (ChangePermissions,)
    serializer_class = s.PiiSuggestionSerializer
    queryset = PiiSuggestion.objects.none()

    def get_queryset(self) -> QuerySet[PiiSuggestion]:
        return selectors.suggestion_list()

    def _decided(self, suggestion: PiiSuggestion) -> Response:
        return Response(s.PiiSuggestionSerializer(selectors.suggestion_list().get(pk=suggestion.pk)).data)

    @extend_schema(request=s.DecisionSerializer, responses=s.PiiSuggestionSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, public_id: str) -> Response:
        data = s.DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        suggestion = review.pii_suggestion_accept(
            suggestion=self.get_object(), actor=request_user(request), note=data.validated_data["note"]
        )
        return self._decided(suggestion)

    @extend_schema(request=s.DecisionSerializer, responses=s.PiiSuggestionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, public_id: str) -> Response:
        data = s.DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        suggestion = review.pii_suggestion_reject(
            suggestion=self.get_object(), actor=request_user(request), note=data.validated_data["note"]
        )
        return self._decided(suggestion)

    def _bulk(self, request: Request, *, accept: bool) -> Response:
        data = s.BulkDecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        chosen = list(PiiSuggestion.objects.filter(public_id__in=data.validated_data["ids"]))
        decide = review.pii_suggestions_accept if accept else review.pii_suggestions_reject
        report = decide(suggestions=chosen, actor=request_user(request), note=data.validated_data["note"])
        found = {str(x.public_id) for x in chosen}
        skipped = dict(report.skipped) | {
            str(i): "not found" for i in data.validated_data["ids"] if str(i) not in found
        }
        decided = selectors.suggestion_list().filter(pk__in=[x.pk for x in report.decided])
        return Response(s.BulkDecisionResultSerializer({"decided": decided, "skipped": skipped}).data)

    @extend_schema(request=s.BulkDecisionSerializer, responses=s.BulkDecisionResultSerializer)
    @action(detail=False, methods=["post"], url_path="bulk-accept")
    def bulk_accept(self, request: Request) -> Response:
        return self._bulk(request, accept=True)

    @extend_schema(request=s.BulkDecisionSerializer, responses=s.BulkDecisionResultSerializer)
    @action(detail=False, methods=["post"], url_path="bulk-reject")
    def bulk_reject(self, request: Request) -> Response:
        return self._bulk(request, accept=False)
