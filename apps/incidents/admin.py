"""Admin of the incidents app: incidents (with their timeline, alerts, runbook and lifecycle actions), integrations
(the token is shown once on creation), classification rules, runbooks, maintenance windows and postmortems."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from apps.common.errors import DomainError
from apps.common.models import User
from apps.incidents import services
from apps.incidents.markdown import render_markdown
from apps.incidents.matchers import MatcherError, parse_matchers, validate_template
from apps.incidents.models import (
    Alert,
    ClassificationRule,
    Incident,
    Integration,
    MaintenanceWindow,
    Postmortem,
    Runbook,
    TimelineEntry,
)
from apps.incidents.remediation import admin as _remediation_admin  # noqa: F401 - registers the remediation admin


def _check_matchers(value: str) -> str:
    try:
        parse_matchers(value)
    except MatcherError as exc:
        raise forms.ValidationError(str(exc)) from exc
    return value


class IntegrationForm(forms.ModelForm[Integration]):
    class Meta:
        model = Integration
        fields = (
            "kind", "name", "description", "enabled", "group_by", "group_template", "resolve_with_alerts",
            "reopen_window_minutes", "rate_limit_per_minute", "default_service", "heartbeat_interval_seconds",
            "heartbeat_alertname",
        )  # fmt: skip

    def clean_group_template(self) -> str:
        value = self.cleaned_data.get("group_template", "")
        try:
            validate_template(value)
        except MatcherError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return value


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin[Integration]):
    form = IntegrationForm
    list_display = ("name", "kind", "enabled", "group_by", "heartbeat_state", "last_heartbeat_at", "token_prefix")
    list_filter = ("kind", "enabled", "heartbeat_state")
    search_fields = ("name",)
    readonly_fields = ("public_id", "token_prefix", "last_heartbeat_at", "heartbeat_state", "created_at", "created_by")
    actions = ("rotate_tokens",)

    def save_model(self, request: HttpRequest, obj: Integration, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        fields = {f: form.cleaned_data[f] for f in form.cleaned_data if f not in ("kind", "name")}
        created, token = services.integration_create(
            kind=form.cleaned_data["kind"], name=form.cleaned_data["name"], created_by=request.user, **fields
        )
        obj.pk, obj.public_id = created.pk, created.public_id
        obj._state.adding = False
        self.message_user(
            request,
            f"Intake URL (shown once, it holds the token): /integrations/v1/{created.kind}/{token}/",
            messages.WARNING,
        )

    @admin.action(description="Rotate the token of the selected integrations (the old ones stop working)")
    def rotate_tokens(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        for integration in queryset:
            token = services.integration_rotate_token(integration=integration)
            self.message_user(
                request,
                f"{integration.name}: /integrations/v1/{integration.kind}/{token}/ (shown once)",
                messages.WARNING,
            )


class TimelineInline(admin.TabularInline[TimelineEntry, Incident]):
    model = TimelineEntry
    fields = ("at", "kind", "actor_label", "message")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("at", "id")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AlertInline(admin.TabularInline[Alert, Incident]):
    model = Alert
    fields = ("name", "status", "fingerprint", "starts_at", "ends_at", "deliveries", "last_received_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PostmortemInline(admin.StackedInline[Postmortem, Incident]):
    model = Postmortem
    fields = ("status", "summary", "root_cause", "impact", "action_items", "owner")
    extra = 0
    can_delete = False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin[Incident]):
    list_display = ("pk", "title", "status", "priority", "severity", "service", "alert_count", "triggered_at")
    list_filter = ("status", "priority", "severity", "urgency", "in_maintenance", "integration")
    search_fields = ("title", "service", "group_key")
    date_hierarchy = "triggered_at"
    inlines = (PostmortemInline, AlertInline, TimelineInline)
    list_select_related = ("integration",)
    readonly_fields = (
        "public_id", "integration", "group_key", "title", "service", "labels", "status", "severity", "priority",
        "impact", "impact_text", "urgency", "escalation_policy", "classification_rule", "runbook", "runbook_html",
        "assignee", "in_maintenance", "alert_count", "delivery_count", "triggered_at", "last_alert_at",
        "acknowledged_at", "acknowledged_by", "silenced_until", "resolved_at", "resolved_by", "resolution",
        "merged_into",
    )  # fmt: skip
    exclude = ("group_hash",)
    actions = ("acknowledge", "unacknowledge", "resolve", "silence_hour", "assign_to_me", "escalate", "merge")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # incidents come from alerts

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the record of what happened is kept

    @admin.display(description="Runbook")
    def runbook_html(self, incident: Incident) -> SafeString:
        if incident.runbook is None:
            return format_html("<em>{}</em>", "No runbook matched.")
        return mark_safe(render_markdown(incident.runbook.body))  # noqa: S308 - sanitised by nh3

    def _each(self, request: HttpRequest, queryset: Iterable[Incident], verb: str, call: Any) -> None:
        done = 0
        for incident in queryset:
            try:
                call(incident)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"#{incident.pk}: {exc.detail}", messages.WARNING)
        if done:
            self.message_user(request, f"{done} incident(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Acknowledge the selected incidents", permissions=["change"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        self._each(
            request,
            queryset,
            "acknowledged",
            lambda i: services.incident_acknowledge(incident=i, actor=cast(User, request.user)),
        )

    @admin.action(description="Resolve the selected incidents", permissions=["change"])
    def resolve(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        self._each(
            request,
            queryset,
            "resolved",
            lambda i: services.incident_resolve(incident=i, actor=cast(User, request.user)),
        )

    @admin.action(description="Escalate the selected incidents now", permissions=["change"])
    def escalate(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        self._each(
            request,
            queryset,
            "escalated",
            lambda i: services.incident_escalate(incident=i, actor=cast(User, request.user)),
        )

    @admin.action(description="Unacknowledge the selected incidents", permissions=["change"])
    def unacknowledge(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        actor = cast(User, request.user)
        self._each(
            request, queryset, "unacknowledged", lambda i: services.incident_unacknowledge(incident=i, actor=actor)
        )

    @admin.action(description="Silence the selected incidents for one hour", permissions=["change"])
    def silence_hour(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        actor, until = cast(User, request.user), timezone.now() + timedelta(hours=1)
        self._each(
            request, queryset, "silenced", lambda i: services.incident_silence(incident=i, actor=actor, until=until)
        )

    @admin.action(description="Assign the selected incidents to me", permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        actor = cast(User, request.user)
        self._each(
            request, queryset, "assigned", lambda i: services.incident_reassign(incident=i, actor=actor, assignee=actor)
        )

    @admin.action(description="Merge the selected incidents into the oldest of them", permissions=["change"])
    def merge(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        actor = cast(User, request.user)
        incidents = list(queryset.order_by("triggered_at", "pk"))
        if len(incidents) < 2:
            self.message_user(request, "Select at least two incidents to merge.", messages.WARNING)
            return
        target = incidents[0]
        self._each(
            request,
            incidents[1:],
            f"merged into #{target.pk}",
            lambda i: services.incident_merge(source=i, target=target, actor=actor),
        )


class MatchersForm(forms.ModelForm[Any]):
    def clean_matchers(self) -> str:
        return _check_matchers(self.cleaned_data.get("matchers", ""))


class ClassificationRuleForm(MatchersForm):
    class Meta:
        model = ClassificationRule
        fields = (
            "name", "position", "enabled", "integration", "matchers", "severity", "priority", "impact", "impact_text",
            "urgency", "escalation_policy", "runbook",
        )  # fmt: skip


@admin.register(ClassificationRule)
class ClassificationRuleAdmin(admin.ModelAdmin[ClassificationRule]):
    form = ClassificationRuleForm
    list_display = ("name", "position", "enabled", "matchers", "priority", "severity", "urgency", "escalation_policy")
    list_editable = ("position", "enabled")
    list_filter = ("enabled", "priority", "urgency")
    ordering = ("position", "name")


class RunbookForm(MatchersForm):
    class Meta:
        model = Runbook
        fields = ("slug", "title", "alertnames", "matchers", "body", "enabled")


@admin.register(Runbook)
class RunbookAdmin(admin.ModelAdmin[Runbook]):
    form = RunbookForm
    list_display = ("title", "slug", "enabled", "updated_at")
    search_fields = ("title", "slug", "body")
    readonly_fields = ("preview",)

    @admin.display(description="Preview")
    def preview(self, runbook: Runbook) -> SafeString:
        return mark_safe(render_markdown(runbook.body))  # noqa: S308 - sanitised by nh3


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin[MaintenanceWindow]):
    list_display = ("reason", "integration", "service", "starts_at", "ends_at", "created_by")
    list_filter = ("integration",)
    readonly_fields = ("created_by", "created_at")

    def save_model(self, request: HttpRequest, obj: MaintenanceWindow, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


@admin.register(Postmortem)
class PostmortemAdmin(admin.ModelAdmin[Postmortem]):
    list_display = ("incident", "status", "owner", "updated_at")
    list_filter = ("status",)
    raw_id_fields = ("incident",)
