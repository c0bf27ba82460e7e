"""Admin of the catalog: datasets (fields and schema versions inline, owners and stewards, discovery button,
full-text search), fields with their categories, glossary, taxonomy (read-only but for administrators), retention
policies and the PII review queue. A steward changes only the datasets they steward or own."""

from __future__ import annotations

import copy
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from apps.catalog import review, services
from apps.catalog.choices import CategorySource, SuggestionStatus
from apps.catalog.models import (
    DataCategory,
    Dataset,
    DataSubjectType,
    DataUse,
    Field,
    FieldCategory,
    GlossaryTerm,
    PiiSuggestion,
    RetentionPolicy,
    SchemaVersion,
)
from apps.catalog.search import dataset_search
from apps.catalog.stewardship import (
    OWNER,
    STEWARD,
    can_steward,
    dataset_people,
    dataset_roles_set,
    is_catalog_admin,
)
from apps.common.errors import DomainError
from apps.common.models import User


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


# --- datasets -----------------------------------------------------------------------------------------------------


class DatasetForm(forms.ModelForm[Dataset]):
    owners = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True, is_service_account=False), required=False
    )
    stewards = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True, is_service_account=False), required=False
    )

    class Meta:
        model = Dataset
        fields = (
            "description", "domain", "tags", "classification", "retention_policy", "freshness_sla_hours", "format",
        )  # fmt: skip


class FieldInline(admin.TabularInline[Field, Dataset]):
    model = Field
    fields = ("name", "data_type", "nullable", "description", "identity_kind", "is_primary_key", "is_active", "tags")
    readonly_fields = ("name", "data_type", "nullable", "is_active", "tags")
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("ordinal", "name")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Field]:
        return super().get_queryset(request).prefetch_related("category_links__category")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # fields come from the schema producers report

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None and can_steward(user=request.user, dataset=obj)

    @admin.display(description="categories")
    def tags(self, obj: Field) -> str:
        return ", ".join(
            f"{link.category.key}{' (inherited)' if link.source == CategorySource.PROPAGATED else ''}"
            for link in obj.category_links.all()
        )


class SchemaVersionInline(admin.TabularInline[SchemaVersion, Dataset]):
    model = SchemaVersion
    fields = ("version", "created_at", "is_breaking", "diff", "source")
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin[Dataset]):
    form = DatasetForm
    change_list_template = "admin/catalog/dataset/change_list.html"
    list_display = (
        "name", "namespace", "domain", "classification", "pii_status", "schema_version", "row_count",
        "last_profiled_at", "people",
    )  # fmt: skip
    list_filter = ("pii_status", "classification", "domain", "platform", "is_active", "retention_policy")
    search_fields = ("name", "namespace", "description")
    inlines = (FieldInline, SchemaVersionInline)
    readonly_fields = (
        "namespace", "name", "platform", "location", "pii_status", "schema_version", "row_count", "size_bytes",
        "file_count", "last_profiled_at", "last_pii_scan_at", "last_modified_at", "is_active", "public_id",
    )  # fmt: skip

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return (
            (None, {"fields": ("namespace", "name", "platform", "format", "location", "is_active", "public_id")}),
            (
                "Stewardship",
                {
                    "fields": (
                        "description",
                        "domain",
                        "tags",
                        "classification",
                        "retention_policy",
                        "owners",
                        "stewards",
                    )
                },
            ),
            (
                "State",
                {
                    "fields": (
                        "pii_status",
                        "schema_version",
                        "row_count",
                        "size_bytes",
                        "file_count",
                        "last_profiled_at",
                        "last_pii_scan_at",
                        "last_modified_at",
                        "freshness_sla_hours",
                    )
                },
            ),
        )

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        people = dataset_people(dataset=obj) if obj is not None else {OWNER: [], STEWARD: []}
        editable = is_catalog_admin(request.user) or (
            obj is not None and request.user.has_perm("catalog.own_dataset", obj)
        )
        for role, name in ((OWNER, "owners"), (STEWARD, "stewards")):
            if name in form.base_fields:
                # Declared fields are shared by every form class the admin builds: change a copy, per request.
                field = copy.deepcopy(form.base_fields[name])
                field.initial = [u.pk for u in people[role]]
                field.disabled = not editable
                form.base_fields[name] = field
        return form

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # datasets are discovered or reported through lineage

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_catalog_admin(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or can_steward(user=request.user, dataset=obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Dataset]:
        return super().get_queryset(request).select_related("retention_policy")

    @admin.display(description="owners / stewards")
    def people(self, obj: Dataset) -> str:
        people = dataset_people(dataset=obj)
        owners = ", ".join(u.username for u in people[OWNER]) or "—"
        stewards = ", ".join(u.username for u in people[STEWARD]) or "—"
        return f"{owners} / {stewards}"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Dataset], search_term: str
    ) -> tuple[QuerySet[Dataset], bool]:
        if not search_term.strip():
            return queryset, False
        return dataset_search(queryset=queryset, text=search_term), False

    def save_model(self, request: HttpRequest, obj: Dataset, form: Any, change: bool) -> None:
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in services.DATASET_EDITABLE}
        if changes:
            services.dataset_update(dataset=obj, actor=_user(request), **changes)
        other = [n for n in form.changed_data if n not in services.DATASET_EDITABLE and n not in ("owners", "stewards")]
        if other:
            obj.save(update_fields=other)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        dataset = form.instance
        services.dataset_search_text_refresh(dataset=dataset)
        for role, name in ((OWNER, "owners"), (STEWARD, "stewards")):
            if name in form.changed_data and not form.fields[name].disabled:
                dataset_roles_set(dataset=dataset, role=role, users=list(form.cleaned_data[name]), actor=_user(request))

    def get_urls(self) -> list[URLPattern]:
        discover = path(
            "discover/", self.admin_site.admin_view(require_POST(self.discover_view)), name="catalog_dataset_discover"
        )
        return [discover, *super().get_urls()]

    def discover_view(self, request: HttpRequest) -> HttpResponse:
        """The "Run discovery" button: a profile run and a PII scan after it."""
        from apps.catalog.discovery import discovery_request

        user = _user(request)
        if not (is_catalog_admin(user) or user.has_perm("sparkruns.add_sparkrun")):
            self.message_user(request, "You may not start Spark runs.", messages.ERROR)
        else:
            profile, scan = discovery_request(requested_by=user)
            self.message_user(
                request,
                f"Discovery queued: profile run {profile.run_id}, then PII scan {scan.run_id}. Datasets, schema "
                "versions and suggestions appear when they finish.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:catalog_dataset_changelist"))


# --- fields -------------------------------------------------------------------------------------------------------


class OwnCategoryInline(admin.TabularInline[FieldCategory, Field]):
    """Categories the field holds in its own right (set by hand or accepted); inherited ones are listed above."""

    model = FieldCategory
    fk_name = "field"
    fields = ("category", "source", "created_by", "created_at")
    readonly_fields = ("source", "created_by", "created_at")
    extra = 0
    verbose_name = "category (own)"
    verbose_name_plural = "categories (own)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[FieldCategory]:
        return super().get_queryset(request).filter(inherited_from__isnull=True).select_related("category")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a category is added or removed, never changed in place

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None and can_steward(user=request.user, dataset=obj.dataset)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None and can_steward(user=request.user, dataset=obj.dataset)


@admin.register(Field)
class FieldAdmin(admin.ModelAdmin[Field]):
    list_display = ("name", "dataset", "data_type", "identity_kind", "is_primary_key", "is_active")
    list_filter = ("identity_kind", "is_active", "is_primary_key", "dataset__domain")
    search_fields = ("name", "dataset__name", "description")
    list_select_related = ("dataset",)
    fields = (
        "dataset", "name", "data_type", "nullable", "ordinal", "is_active", "description", "identity_kind",
        "is_primary_key", "glossary_terms", "inherited_categories", "statistics",
    )  # fmt: skip
    readonly_fields = (
        "dataset", "name", "data_type", "nullable", "ordinal", "is_active", "inherited_categories", "statistics",
    )  # fmt: skip
    filter_horizontal = ("glossary_terms",)
    inlines = (OwnCategoryInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or can_steward(user=request.user, dataset=obj.dataset)

    @admin.display(description="inherited categories")
    def inherited_categories(self, obj: Field) -> str:
        rows = (
            FieldCategory.objects.filter(field=obj, inherited_from__isnull=False)
            .select_related("category", "inherited_from__field__dataset")
            .order_by("category__key", "hops")
        )
        return (
            format_html_join(
                "\n",
                "<div>{} — from {}.{} ({} hops)</div>",
                (
                    (r.category.key, r.inherited_from.field.dataset.name, r.inherited_from.field.name, r.hops)
                    for r in rows
                    if r.inherited_from is not None
                ),
            )
            or "—"
        )

    def save_model(self, request: HttpRequest, obj: Field, form: Any, change: bool) -> None:
        changes = {n: form.cleaned_data[n] for n in form.changed_data if n in services.FIELD_EDITABLE}
        services.field_update(field=obj, actor=_user(request), **changes)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        field = form.instance
        if "glossary_terms" in form.changed_data:
            services.field_update(field=field, actor=_user(request), glossary_terms=form.cleaned_data["glossary_terms"])
        for formset in formsets:
            for inline_form in formset.forms:
                if not inline_form.has_changed() and not formset._should_delete_form(inline_form):
                    continue
                category = inline_form.cleaned_data.get("category")
                try:
                    if formset._should_delete_form(inline_form) and inline_form.instance.pk:
                        services.field_category_remove(
                            field=field, category=inline_form.instance.category, actor=_user(request)
                        )
                    elif category is not None and not inline_form.instance.pk:
                        services.field_category_add(field=field, category=category, actor=_user(request))
                except DomainError as exc:
                    self.message_user(request, exc.detail, messages.WARNING)


# --- glossary, taxonomy, retention ---------------------------------------------------------------------------------


@admin.register(GlossaryTerm)
class GlossaryTermAdmin(admin.ModelAdmin[GlossaryTerm]):
    list_display = ("name", "owner", "updated_at")
    search_fields = ("name", "definition")
    fields = ("name", "definition", "owner")

    def save_model(self, request: HttpRequest, obj: GlossaryTerm, form: Any, change: bool) -> None:
        saved = services.glossary_term_save(
            term=GlossaryTerm.objects.get(pk=obj.pk) if change else None,
            name=form.cleaned_data["name"],
            definition=form.cleaned_data["definition"],
            owner=form.cleaned_data.get("owner") or (None if change else _user(request)),
        )
        obj.pk, obj.public_id = saved.pk, saved.public_id
        obj._state.adding = False


class TaxonomyAdmin(admin.ModelAdmin[Any]):
    """The taxonomy is shared vocabulary: everyone with the view permission reads it, administrators change it."""

    list_display = ("key", "name", "parent_key", "is_active")
    list_filter = ("is_active",)
    search_fields = ("key", "name", "description")
    fields = ("key", "name", "description", "parent_key", "is_active")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_catalog_admin(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_catalog_admin(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # fields and suggestions point at categories; retire one with is_active instead


admin.site.register(DataCategory, TaxonomyAdmin)
admin.site.register(DataUse, TaxonomyAdmin)
admin.site.register(DataSubjectType, TaxonomyAdmin)


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin[RetentionPolicy]):
    list_display = ("name", "days", "action")
    search_fields = ("name",)


# --- the PII review queue -----------------------------------------------------------------------------------------


class StatusFilter(admin.SimpleListFilter):
    """Pending suggestions unless asked otherwise: the queue is what needs a decision."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*SuggestionStatus.choices, ("all", "All")]

    def choices(self, changelist: Any) -> Any:
        current = self.value() or SuggestionStatus.PENDING
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[PiiSuggestion]) -> QuerySet[PiiSuggestion]:
        value = self.value() or SuggestionStatus.PENDING
        return queryset if value == "all" else queryset.filter(status=value)


class ConfidenceFilter(admin.SimpleListFilter):
    title = "confidence"
    parameter_name = "confidence"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("high", "≥ 0.9"), ("medium", "0.5 to 0.9"), ("low", "< 0.5")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[PiiSuggestion]) -> QuerySet[PiiSuggestion]:
        value = self.value()
        if value == "high":
            return queryset.filter(confidence__gte=0.9)
        if value == "medium":
            return queryset.filter(confidence__gte=0.5, confidence__lt=0.9)
        if value == "low":
            return queryset.filter(confidence__lt=0.5)
        return queryset


@admin.register(PiiSuggestion)
class PiiSuggestionAdmin(admin.ModelAdmin[PiiSuggestion]):
    list_display = ("field_name", "dataset_name", "category", "confidence", "detector", "reason", "status", "decide")
    list_filter = (StatusFilter, ConfidenceFilter, ("field__dataset", admin.RelatedOnlyFieldListFilter), "category")
    search_fields = ("field__name", "field__dataset__name", "category__key", "reason")
    list_select_related = ("field__dataset", "category")
    ordering = ("-confidence", "-created_at")
    actions = ("accept_selected", "reject_selected")
    readonly_fields = (
        "field", "category", "detector", "confidence", "ratio", "matched", "sampled", "name_hint", "reason",
        "evidence", "status", "source_run", "created_at", "reviewed_by", "reviewed_at", "review_note",
    )  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="field", ordering="field__name")
    def field_name(self, obj: PiiSuggestion) -> str:
        return obj.field.name

    @admin.display(description="dataset", ordering="field__dataset__name")
    def dataset_name(self, obj: PiiSuggestion) -> str:
        return obj.field.dataset.name

    @admin.display(description="decide")
    def decide(self, obj: PiiSuggestion) -> str:
        if obj.status != SuggestionStatus.PENDING:
            return "—"
        accept = reverse("admin:catalog_piisuggestion_decide", args=[obj.public_id, "accept"])
        reject = reverse("admin:catalog_piisuggestion_decide", args=[obj.public_id, "reject"])
        return format_html(
            '<a class="button" href="{}">Accept</a> <a class="button" href="{}">Reject</a>', accept, reject
        )

    def _report(self, request: HttpRequest, report: review.DecisionReport, verb: str) -> None:
        if report.decided:
            self.message_user(request, f"{verb} {len(report.decided)} suggestion(s).", messages.SUCCESS)
        for key, reason in report.skipped.items():
            self.message_user(request, f"Skipped {key}: {reason}.", messages.WARNING)

    @admin.action(description="Accept the selected suggestions", permissions=["change"])
    def accept_selected(self, request: HttpRequest, queryset: QuerySet[PiiSuggestion]) -> None:
        self._report(request, review.pii_suggestions_accept(suggestions=queryset, actor=_user(request)), "Accepted")

    @admin.action(description="Reject the selected suggestions", permissions=["change"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[PiiSuggestion]) -> None:
        self._report(request, review.pii_suggestions_reject(suggestions=queryset, actor=_user(request)), "Rejected")

    def get_urls(self) -> list[URLPattern]:
        decide = path(
            "<uuid:public_id>/<str:decision>/",
            self.admin_site.admin_view(self.decide_view),
            name="catalog_piisuggestion_decide",
        )
        return [decide, *super().get_urls()]

    def decide_view(self, request: HttpRequest, public_id: Any, decision: str) -> HttpResponse:
        """One suggestion: GET shows the evidence and asks for a note, POST decides."""
        suggestion = get_object_or_404(
            PiiSuggestion.objects.select_related("field__dataset", "category"), public_id=public_id
        )
        if decision not in ("accept", "reject") or not self.has_change_permission(request, suggestion):
            return HttpResponseRedirect(reverse("admin:catalog_piisuggestion_changelist"))
        if request.method == "POST":
            note = str(request.POST.get("note", ""))[:2000]
            decide = review.pii_suggestion_accept if decision == "accept" else review.pii_suggestion_reject
            try:
                decide(suggestion=suggestion, actor=_user(request), note=note)
                self.message_user(request, f"{decision.capitalize()}ed: {suggestion}.", messages.SUCCESS)
            except DomainError as exc:
                self.message_user(request, exc.detail, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:catalog_piisuggestion_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": f"{decision.capitalize()} suggestion",
            "opts": self.model._meta,
            "suggestion": suggestion,
            "decision": decision,
            "may_decide": can_steward(user=request.user, dataset=suggestion.field.dataset),
        }
        return TemplateResponse(request, "admin/catalog/piisuggestion/decide.html", context)
