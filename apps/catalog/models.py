"""The catalog: datasets and fields, the privacy taxonomy, glossary, retention policies, schema versions and PII
suggestions. Dataset identity is the OpenLineage pair (namespace, name); every other app points here."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.catalog.choices import (
    CategorySource,
    Classification,
    IdentityKind,
    PiiStatus,
    Platform,
    RetentionAction,
    SuggestionStatus,
)
from apps.common.models import PublicIdModel, TimeStampedModel


class TaxonomyItem(PublicIdModel):
    """Abstract base of the hierarchical privacy taxonomy (fideslang-compatible dotted keys)."""

    key = models.CharField(max_length=200, unique=True, help_text="Dotted key, e.g. user.contact.email.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    parent_key = models.CharField(max_length=200, blank=True, db_index=True, help_text="The key one level up.")
    is_active = models.BooleanField(default=True)

    class Meta:
        abstract = True
        ordering = ("key",)

    def __str__(self) -> str:
        return self.key

    def covers(self, key: str) -> bool:
        """A key covers itself and every key below it."""
        return key == self.key or key.startswith(self.key + ".")


class DataCategory(TaxonomyItem):
    """A kind of data (``user.contact.email``); a parent key covers its children."""

    class Meta(TaxonomyItem.Meta):
        verbose_name_plural = "data categories"


class DataUse(TaxonomyItem):
    """A purpose data is processed for (``marketing.advertising.first_party.targeted``)."""


class DataSubjectType(TaxonomyItem):
    """Whose data it is (``customer``, ``employee``)."""


class RetentionPolicy(PublicIdModel):
    """How long a dataset's rows are kept and what happens after."""

    name = models.CharField(max_length=100, unique=True)
    days = models.PositiveIntegerField()
    action = models.CharField(max_length=12, choices=RetentionAction.choices, default=RetentionAction.DELETE)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ("name",)
        verbose_name_plural = "retention policies"

    def __str__(self) -> str:
        return f"{self.name} ({self.days} days)"


class GlossaryTerm(PublicIdModel, TimeStampedModel):
    """A business term stewards define once and link to the fields that hold it."""

    name = models.CharField(max_length=200, unique=True)
    definition = models.TextField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Dataset(PublicIdModel, TimeStampedModel):
    """A dataset known by its OpenLineage (namespace, name); owners and stewards are object permissions."""

    namespace = models.CharField(max_length=500, help_text="OpenLineage namespace, e.g. file:///lake or s3://bucket.")
    name = models.CharField(max_length=500, help_text="OpenLineage name, e.g. raw/orders.")
    platform = models.CharField(max_length=12, choices=Platform.choices, default=Platform.LAKE)
    format = models.CharField(max_length=40, blank=True, help_text="parquet, delta, csv, table, topic…")
    location = models.CharField(max_length=1000, blank=True)
    description = models.TextField(blank=True)
    domain = models.CharField(max_length=100, blank=True, db_index=True, help_text="Business domain, e.g. sales.")
    tags = models.JSONField(default=list, blank=True)
    classification = models.CharField(
        max_length=12, choices=Classification.choices, default=Classification.INTERNAL, db_index=True
    )
    retention_policy = models.ForeignKey(
        RetentionPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="datasets"
    )
    pii_status = models.CharField(max_length=10, choices=PiiStatus.choices, default=PiiStatus.UNKNOWN)
    row_count = models.BigIntegerField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    file_count = models.IntegerField(null=True, blank=True)
    last_profiled_at = models.DateTimeField(null=True, blank=True)
    last_pii_scan_at = models.DateTimeField(null=True, blank=True, help_text="When a PII scan last covered it.")
    last_modified_at = models.DateTimeField(
        null=True, blank=True, help_text="When the data last changed (a job wrote it): its freshness."
    )
    freshness_sla_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="The data is stale when older than this."
    )
    schema_version = models.PositiveIntegerField(default=0, help_text="The current schema version (0: none).")
    schema_reported_at = models.DateTimeField(
        null=True, blank=True, help_text="When the newest schema report applied was observed (older ones are ignored)."
    )
    is_active = models.BooleanField(default=True, help_text="False once the dataset is gone from its platform.")
    search_text = models.TextField(
        blank=True, editable=False, help_text="Name, description, field names and glossary terms, for search."
    )

    class Meta:
        ordering = ("namespace", "name")
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="catalog_dataset_identity")]
        permissions = [("steward_dataset", "Is a steward of the dataset"), ("own_dataset", "Owns the dataset")]

    def __str__(self) -> str:
        return self.qualified_name

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace.rstrip('/')}/{self.name}"


class Field(PublicIdModel):
    """A column of a dataset, with what it identifies and which data categories it holds."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="fields")
    name = models.CharField(max_length=300)
    data_type = models.CharField(max_length=200, blank=True)
    nullable = models.BooleanField(default=True)
    ordinal = models.PositiveIntegerField(default=0)
    description = models.TextField(blank=True)
    is_primary_key = models.BooleanField(default=False)
    identity_kind = models.CharField(max_length=20, choices=IdentityKind.choices, default=IdentityKind.NONE, blank=True)
    is_active = models.BooleanField(default=True, help_text="False once the field left the schema.")
    statistics = models.JSONField(
        default=dict, blank=True, help_text="The latest profile: nulls, distinct count, lengths, numeric range."
    )
    glossary_terms = models.ManyToManyField(GlossaryTerm, blank=True, related_name="fields")
    data_categories = models.ManyToManyField(
        DataCategory, through="FieldCategory", through_fields=("field", "category"), related_name="fields", blank=True
    )

    class Meta:
        ordering = ("dataset", "ordinal", "name")
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="catalog_field_per_dataset")]

    def __str__(self) -> str:
        return f"{self.dataset.name}.{self.name}"


class FieldCategory(models.Model):
    """A data category on a field: set by hand, accepted from a suggestion, or inherited along column lineage.

    An inherited row names the row it came from (``inherited_from``); it follows that row and goes with it.
    """

    field = models.ForeignKey(Field, on_delete=models.CASCADE, related_name="category_links")
    category = models.ForeignKey(DataCategory, on_delete=models.PROTECT, related_name="field_links")
    source = models.CharField(max_length=12, choices=CategorySource.choices, default=CategorySource.MANUAL)
    inherited_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="inherited", help_text="The origin."
    )
    hops = models.PositiveSmallIntegerField(default=0, help_text="Lineage hops from the origin (0: not inherited).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["field", "category"], condition=Q(inherited_from__isnull=True), name="catalog_fieldcat_own"
            ),
            models.UniqueConstraint(
                fields=["field", "category", "inherited_from"],
                condition=Q(inherited_from__isnull=False),
                name="catalog_fieldcat_inherited",
            ),
            models.CheckConstraint(
                condition=Q(source=CategorySource.PROPAGATED, inherited_from__isnull=False)
                | (~Q(source=CategorySource.PROPAGATED) & Q(inherited_from__isnull=True)),
                name="catalog_fieldcat_inherited_iff_propagated",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.field} → {self.category.key} ({self.source})"


class SchemaVersion(models.Model):
    """One version of a dataset's schema, with the difference from the version before."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="schema_versions")
    version = models.PositiveIntegerField()
    fields = models.JSONField(help_text='[{"name", "type", "nullable"}, …] in column order.')
    diff = models.JSONField(default=dict, blank=True, help_text='{"added": [...], "removed": [...], "changed": [...]}')
    is_breaking = models.BooleanField(default=False, help_text="A field was removed or changed its type.")
    source = models.CharField(max_length=300, blank=True, help_text="What reported it: a run id, a scan, a user.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("dataset", "-version")
        constraints = [models.UniqueConstraint(fields=["dataset", "version"], name="catalog_schema_version")]

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.version}"


class PiiSuggestion(PublicIdModel):
    """A scan's claim that a field holds a data category, with its evidence, waiting for a steward's decision.

    A rejection is remembered per (field, category) and its evidence fingerprint: the same evidence is not
    suggested again; different evidence is.
    """

    field = models.ForeignKey(Field, on_delete=models.CASCADE, related_name="pii_suggestions")
    category = models.ForeignKey(DataCategory, on_delete=models.PROTECT, related_name="suggestions")
    detector = models.CharField(max_length=50)
    confidence = models.FloatField()
    ratio = models.FloatField(help_text="Share of sampled values that matched.")
    matched = models.PositiveIntegerField(default=0)
    sampled = models.PositiveIntegerField(default=0)
    name_hint = models.BooleanField(default=False)
    reason = models.TextField()
    evidence = models.CharField(max_length=64, help_text="Fingerprint of the evidence (detector, bands of ratio).")
    status = models.CharField(max_length=12, choices=SuggestionStatus.choices, default=SuggestionStatus.PENDING)
    source_run = models.CharField(max_length=100, blank=True, help_text="The scan's run id.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=["field", "category"], condition=Q(status="pending"), name="catalog_one_pending_suggestion"
            ),
            models.CheckConstraint(condition=Q(confidence__gte=0, confidence__lte=1), name="catalog_confidence_01"),
        ]
        indexes = [models.Index(fields=["status", "-confidence"], name="catalog_suggestion_queue")]

    def __str__(self) -> str:
        return f"{self.field} → {self.category.key} ({self.status})"


class RunConsumption(models.Model):
    """A Spark run whose summary the catalog has consumed (profile or PII scan): consuming is done once per run."""

    run_id = models.UUIDField(unique=True, help_text="The OpenLineage run id of the Spark run.")
    job = models.CharField(max_length=30)
    consumed_at = models.DateTimeField(auto_now_add=True)
    outcome = models.JSONField(default=dict, blank=True, help_text="What the consumption changed (counts).")

    class Meta:
        ordering = ("-consumed_at",)

    def __str__(self) -> str:
        return f"{self.job} {self.run_id}"
