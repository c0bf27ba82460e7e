"""Serializers of the catalog API. Objects are addressed by their public UUID (``id``); taxonomy items by ``key``."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.catalog.choices import Classification, IdentityKind
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

TAXONOMY_FIELDS = ("key", "name", "description", "parent_key", "is_active")


class DataCategorySerializer(serializers.ModelSerializer[DataCategory]):
    class Meta:
        model = DataCategory
        fields = TAXONOMY_FIELDS
        read_only_fields = fields


class DataUseSerializer(serializers.ModelSerializer[DataUse]):
    class Meta:
        model = DataUse
        fields = TAXONOMY_FIELDS
        read_only_fields = fields


class DataSubjectSerializer(serializers.ModelSerializer[DataSubjectType]):
    class Meta:
        model = DataSubjectType
        fields = TAXONOMY_FIELDS
        read_only_fields = fields


class RetentionPolicySerializer(serializers.ModelSerializer[RetentionPolicy]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    # Plain text in the schema: an enum named "action" would collide with the audit log's.
    action = serializers.CharField(read_only=True, help_text="delete, anonymise or archive")

    class Meta:
        model = RetentionPolicy
        fields = ("id", "name", "days", "action", "description")
        read_only_fields = fields


class GlossaryTermSerializer(serializers.ModelSerializer[GlossaryTerm]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    owner = serializers.SerializerMethodField()
    field_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = GlossaryTerm
        fields = ("id", "name", "definition", "owner", "field_count", "created_at", "updated_at")
        read_only_fields = ("created_at", "updated_at")

    def get_owner(self, obj: GlossaryTerm) -> str | None:
        return obj.owner.get_username() if obj.owner_id and obj.owner else None


class InheritedFromSerializer(serializers.Serializer[Any]):
    """Where an inherited category came from: the origin field and its dataset."""

    dataset = serializers.UUIDField(source="field.dataset.public_id")
    dataset_name = serializers.CharField(source="field.dataset.qualified_name")
    field = serializers.UUIDField(source="field.public_id")
    field_name = serializers.CharField(source="field.name")  # type: ignore[assignment]
    source = serializers.CharField()  # type: ignore[assignment]


class FieldCategoryLinkSerializer(serializers.Serializer[Any]):
    category = serializers.CharField(source="category.key")
    category_name = serializers.CharField(source="category.name")
    source = serializers.CharField()  # type: ignore[assignment]
    hops = serializers.IntegerField()
    inherited_from = InheritedFromSerializer(allow_null=True)
    created_at = serializers.DateTimeField()


class FieldSerializer(serializers.ModelSerializer[Field]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    dataset = serializers.UUIDField(source="dataset.public_id", read_only=True)
    dataset_name = serializers.CharField(source="dataset.qualified_name", read_only=True)
    glossary_terms = serializers.SerializerMethodField()
    categories = FieldCategoryLinkSerializer(source="category_links", many=True, read_only=True)

    class Meta:
        model = Field
        fields = (
            "id", "dataset", "dataset_name", "name", "data_type", "nullable", "ordinal", "description",
            "is_primary_key", "identity_kind", "is_active", "statistics", "glossary_terms", "categories",
        )  # fmt: skip
        read_only_fields = fields

    def get_glossary_terms(self, obj: Field) -> list[str]:
        return sorted(t.name for t in obj.glossary_terms.all())


class FieldUpdateSerializer(serializers.Serializer[Any]):
    description = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    identity_kind = serializers.ChoiceField(choices=IdentityKind.choices, required=False, allow_blank=True)
    is_primary_key = serializers.BooleanField(required=False)
    glossary_terms = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=100)


class DatasetSerializer(serializers.ModelSerializer[Dataset]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    retention_policy: serializers.SlugRelatedField[RetentionPolicy] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )
    field_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Dataset
        fields: tuple[str, ...] = (
            "id", "namespace", "name", "qualified_name", "platform", "format", "location", "description", "domain",
            "tags", "classification", "retention_policy", "pii_status", "row_count", "size_bytes", "file_count",
            "last_profiled_at", "last_pii_scan_at", "last_modified_at", "freshness_sla_hours", "schema_version",
            "is_active", "field_count", "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = fields


class DatasetDetailSerializer(DatasetSerializer):
    fields_ = FieldSerializer(source="fields", many=True, read_only=True)
    owners = serializers.SerializerMethodField()
    stewards = serializers.SerializerMethodField()

    class Meta(DatasetSerializer.Meta):
        fields = (*DatasetSerializer.Meta.fields, "owners", "stewards", "fields_")
        read_only_fields = fields

    def to_representation(self, instance: Dataset) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["fields"] = data.pop("fields_")
        return data

    def _people(self, obj: Dataset) -> dict[str, list[Any]]:
        from apps.catalog.stewardship import dataset_people

        cached = getattr(obj, "_people", None)
        if cached is None:
            cached = dataset_people(dataset=obj)
            obj._people = cached  # type: ignore[attr-defined]
        return cached

    def get_owners(self, obj: Dataset) -> list[str]:
        return [u.username for u in self._people(obj)["owner"]]

    def get_stewards(self, obj: Dataset) -> list[str]:
        return [u.username for u in self._people(obj)["steward"]]


class DatasetUpdateSerializer(serializers.Serializer[Any]):
    description = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    domain = serializers.CharField(required=False, allow_blank=True, max_length=100)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=50)
    classification = serializers.ChoiceField(choices=Classification.choices, required=False)
    retention_policy = serializers.SlugRelatedField(
        slug_field="public_id", queryset=RetentionPolicy.objects.all(), required=False, allow_null=True
    )
    freshness_sla_hours = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=24 * 366)


class SchemaVersionSerializer(serializers.ModelSerializer[SchemaVersion]):
    dataset = serializers.UUIDField(source="dataset.public_id", read_only=True)
    dataset_name = serializers.CharField(source="dataset.qualified_name", read_only=True)

    class Meta:
        model = SchemaVersion
        fields = ("dataset", "dataset_name", "version", "fields", "diff", "is_breaking", "source", "created_at")
        read_only_fields = fields


class CategoryChangeSerializer(serializers.Serializer[Any]):
    category = serializers.SlugRelatedField(slug_field="key", queryset=DataCategory.objects.filter(is_active=True))


class PiiSuggestionSerializer(serializers.ModelSerializer[PiiSuggestion]):
    id = serializers.UUIDField(source="public_id", read_only=True)
    dataset = serializers.UUIDField(source="field.dataset.public_id", read_only=True)
    dataset_name = serializers.CharField(source="field.dataset.qualified_name", read_only=True)
    field = serializers.UUIDField(source="field.public_id", read_only=True)
    field_name = serializers.CharField(source="field.name", read_only=True)  # type: ignore[assignment]
    category = serializers.CharField(source="category.key", read_only=True)
    reviewed_by = serializers.SerializerMethodField()

    class Meta:
        model = PiiSuggestion
        fields = (
            "id", "dataset", "dataset_name", "field", "field_name", "category", "detector", "confidence", "ratio",
            "matched", "sampled", "name_hint", "reason", "evidence", "status", "source_run", "created_at",
            "reviewed_by", "reviewed_at", "review_note",
        )  # fmt: skip
        read_only_fields = fields

    def get_reviewed_by(self, obj: PiiSuggestion) -> str | None:
        return obj.reviewed_by.get_username() if obj.reviewed_by_id and obj.reviewed_by else None


class DecisionSerializer(serializers.Serializer[Any]):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class BulkDecisionSerializer(DecisionSerializer):
    ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=500)


class BulkDecisionResultSerializer(serializers.Serializer[Any]):
    decided = PiiSuggestionSerializer(many=True)
    skipped = serializers.DictField(child=serializers.CharField())
