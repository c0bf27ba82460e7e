"""Admin of Spark runs: read-only history with cancel and re-submit actions."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.common.errors import DomainError
from apps.common.models import User
from apps.sparkruns.models import SparkRun
from apps.sparkruns.services import spark_run_cancel, spark_run_resubmit


@admin.register(SparkRun)
class SparkRunAdmin(admin.ModelAdmin[SparkRun]):
    list_display = ("job", "state", "backend", "created_at", "started_at", "finished_at", "requested_by")
    list_filter = ("job", "state", "backend")
    search_fields = ("run_id", "handle", "error")
    date_hierarchy = "created_at"
    actions = ("cancel", "resubmit")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in SparkRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs are requested through the API or manage.py spark_run

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Cancel the selected runs", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[SparkRun]) -> None:
        for run in queryset:
            try:
                spark_run_cancel(run=run, actor=cast(User, request.user))
            except DomainError as exc:
                self.message_user(request, f"{run}: {exc.detail}", messages.WARNING)

    @admin.action(description="Re-submit the selected runs", permissions=["change"])
    def resubmit(self, request: HttpRequest, queryset: QuerySet[SparkRun]) -> None:
        for run in queryset:
            try:
                new = spark_run_resubmit(run=run, requested_by=cast(User, request.user))
                self.message_user(request, f"{run.job}: new run {new.run_id}", messages.SUCCESS)
            except DomainError as exc:
                self.message_user(request, f"{run}: {exc.detail}", messages.WARNING)
