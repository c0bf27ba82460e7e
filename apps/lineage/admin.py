"""Admin of lineage, read-mostly: jobs, runs, raw events (with re-processing of failed ones), dataset and field
edges. Everything here is derived from OpenLineage events, so nothing is added or edited by hand."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.common.models import User
from apps.lineage.choices import EventStatus
from apps.lineage.models import DatasetEdge, FieldEdge, Job, JobDataset, LineageEvent, Run, RunDataset
from apps.lineage.services import event_reprocess


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Every field read-only; no adding or deleting (the rows come from events)."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in cast(type[models.Model], self.model)._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class JobDatasetInline(admin.TabularInline[JobDataset, Job]):
    model = JobDataset
    fields = ("direction", "dataset", "last_seen", "last_run")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ("namespace", "name", "job_type", "latest_run", "updated_at")
    list_filter = ("namespace", "job_type")
    search_fields = ("namespace", "name", "description")
    list_select_related = ("latest_run",)
    inlines = (JobDatasetInline,)


class RunDatasetInline(admin.TabularInline[RunDataset, Run]):
    model = RunDataset
    fields = ("direction", "dataset")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ("run_id", "job", "state", "started_at", "ended_at", "parent_run_id")
    list_filter = ("state", "job__namespace")
    search_fields = ("=run_id", "job__name", "error_message")
    list_select_related = ("job",)
    date_hierarchy = "started_at"
    inlines = (RunDatasetInline,)


@admin.register(LineageEvent)
class LineageEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "kind", "event_type", "job_name", "event_time", "status", "attempts", "producer")
    list_filter = ("status", "kind", "event_type")
    search_fields = ("=run_id", "job_name", "job_namespace", "=dedup_key", "error")
    date_hierarchy = "received_at"
    actions = ("reprocess",)
    show_full_result_count = False  # the table is large; counting it on every page is not worth it

    @admin.action(description="Re-process the selected failed events", permissions=["change"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[LineageEvent]) -> None:
        failed = list(queryset.filter(status=EventStatus.FAILED))
        for event in failed:
            event_reprocess(event=event, actor=cast(User, request.user))
        skipped = queryset.count() - len(failed)
        self.message_user(request, f"{len(failed)} event(s) queued for processing again.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} event(s) were not failed and were left alone.", messages.WARNING)


@admin.register(DatasetEdge)
class DatasetEdgeAdmin(ReadOnlyAdmin):
    list_display = ("source", "target", "job", "last_seen")
    search_fields = ("source__name", "target__name", "job__name")
    list_select_related = ("source", "target", "job")
    raw_id_fields = ("source", "target", "job")


@admin.register(FieldEdge)
class FieldEdgeAdmin(ReadOnlyAdmin):
    list_display = ("source", "target", "job", "transformation_type", "transformation_subtype", "masking", "last_seen")
    list_filter = ("transformation_type", "transformation_subtype", "masking")
    search_fields = ("source__name", "target__name", "source__dataset__name", "target__dataset__name", "job__name")
    list_select_related = ("source__dataset", "target__dataset", "job")
