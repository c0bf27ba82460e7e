"""Scan schedules, kept in step with django-celery-beat by ``schedule_set``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from apps.catalog.stewardship import can_steward, datasets_stewarded
from apps.quality.admin.common import (
    _add_domain_errors,
    _dataset_choices,
    _narrow,
    _stewarded_only,
)
from apps.quality.models import ScanSchedule
from apps.quality.schedules import ScheduleInvalid, schedule_set, schedule_validate


class ScanScheduleForm(forms.ModelForm[ScanSchedule]):
    """A schedule, checked by ``schedule_validate`` (the save goes through ``schedule_set``)."""

    class Meta:
        model = ScanSchedule
        fields = ("dataset", "mode", "crontab", "partition_column", "samples")

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        dataset = cleaned.get("dataset") if "dataset" in self.fields else self.instance.dataset
        if dataset is None or not cleaned.get("mode") or self.errors:
            return cleaned
        try:
            schedule_validate(
                dataset=dataset,
                mode=cleaned["mode"],
                crontab=cleaned.get("crontab") or "",
                partition_column=cleaned.get("partition_column") or "",
                samples=cleaned.get("samples"),
            )
        except ScheduleInvalid as exc:
            _add_domain_errors(self, exc)
        return cleaned


@admin.register(ScanSchedule)
class ScanScheduleAdmin(admin.ModelAdmin[ScanSchedule]):
    form = ScanScheduleForm
    list_display = ("dataset", "mode", "crontab", "partition_column", "last_partition", "samples", "updated_at")
    list_filter = ("mode",)
    list_select_related = ("dataset",)
    search_fields = ("dataset__name",)

    fields = ("dataset", "mode", "crontab", "partition_column", "samples", "last_partition", "beat_task", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fixed = ("last_partition", "beat_task", "updated_at")
        return ("dataset", *fixed) if obj is not None else fixed  # a schedule belongs to its dataset for good

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        _narrow(form, "dataset", _dataset_choices(request))
        return form

    def get_queryset(self, request: HttpRequest) -> QuerySet[ScanSchedule]:
        schedules = super().get_queryset(request).select_related("dataset", "periodic_task")
        if _stewarded_only(request, "quality.change_scanschedule"):
            schedules = schedules.filter(dataset__in=datasets_stewarded(user=request.user))
        return schedules

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or can_steward(user=request.user, dataset=obj.dataset)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # "only when requested" is the absence of a schedule, and removes the beat task

    @admin.display(description="beat task")
    def beat_task(self, obj: ScanSchedule) -> str:
        task = obj.periodic_task
        if task is None:
            return "—"
        url = reverse("admin:django_celery_beat_periodictask_change", args=[task.pk])
        return format_html('<a href="{}">{}</a> ({})', url, task.name, "enabled" if task.enabled else "disabled")

    def save_model(self, request: HttpRequest, obj: ScanSchedule, form: Any, change: bool) -> None:
        data = form.cleaned_data
        saved = schedule_set(
            dataset=obj.dataset,
            mode=data["mode"],
            crontab=data.get("crontab") or "",
            partition_column=data.get("partition_column") or "",
            samples=data.get("samples"),
        )
        obj.pk, obj.periodic_task = saved.pk, saved.periodic_task
        obj._state.adding = False
