"""The read-only history of scans with their results; a queued scan can be cancelled."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.catalog.stewardship import can_steward
from apps.common.errors import DomainError
from apps.quality.admin.common import (
    _user,
)
from apps.quality.models import QualityResult, QualityScan
from apps.quality.services import scan_cancel


class QualityResultInline(admin.TabularInline[QualityResult, QualityScan]):
    """What each rule found; the samples stay out of the admin (they are read, masked, through the API)."""

    model = QualityResult
    fields = ("rule_name", "kind", "outcome", "metric", "failing_rows", "failing_fraction", "message", "sample_count")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[QualityResult]:
        return super().get_queryset(request).defer("samples")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(QualityScan)
class QualityScanAdmin(admin.ModelAdmin[QualityScan]):
    list_display = (
        "dataset", "state", "trigger", "rows_scanned", "quality_score", "trust_score", "outcome_counts", "created_at",
        "finished_at",
    )  # fmt: skip
    list_filter = ("state", "trigger", ("dataset", admin.RelatedOnlyFieldListFilter), "created_at")
    list_select_related = ("dataset",)
    search_fields = ("dataset__name", "=public_id")
    date_hierarchy = "created_at"
    inlines = (QualityResultInline,)
    actions = ("cancel_selected",)
    fields = (
        "public_id", "dataset", "state", "trigger", "partitions", "watermark", "sample_rows", "requested_by",
        "spark_run", "rows_scanned", "duration_seconds", "outcomes", "quality_score", "trust_score", "score_details",
        "error", "created_at", "finished_at", "rules",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # scans are requested from the rule list, by schedules, or through the API

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("quality.change_qualityscan"))

    @admin.display(description="outcomes")
    def outcome_counts(self, obj: QualityScan) -> str:
        return " · ".join(f"{k} {v}" for k, v in (obj.outcomes or {}).items() if v) or "—"

    @admin.action(description="Cancel the selected queued scans", permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[QualityScan]) -> None:
        cancelled = 0
        for scan in queryset.select_related("dataset", "spark_run"):
            if not can_steward(user=request.user, dataset=scan.dataset):
                self.message_user(request, f"{scan}: you do not steward {scan.dataset.name}.", messages.WARNING)
                continue
            try:
                scan_cancel(scan=scan, actor=_user(request))
                cancelled += 1
            except DomainError as exc:
                self.message_user(request, f"{scan}: {exc.detail}", messages.WARNING)
        if cancelled:
            self.message_user(request, f"Cancelled {cancelled} scan(s).", messages.SUCCESS)
