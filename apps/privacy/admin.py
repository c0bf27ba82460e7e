"""The admin of privacy: retention rules, which data stewards own. Requests, consent and runs live in the
compliance pages under ``/privacy/``."""

from __future__ import annotations

from django.contrib import admin

from apps.privacy.models import RetentionRule


@admin.register(RetentionRule)
class RetentionRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "dataset", "category", "days", "time_field", "action", "enabled")
    list_filter = ("action", "enabled")
    search_fields = ("name", "description", "dataset__name", "category__key")
    autocomplete_fields = ("dataset",)
    fields = ("name", "description", "dataset", "category", "time_field", "days", "action", "enabled")
