"""Admin of remediation: rules (checked against the action registry before saving) and attempts (read-only, with
approve and deny of the selected ones through the services, so every decision is recorded)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.common.errors import DomainError
from apps.common.models import User
from apps.incidents.models import RemediationAttempt, RemediationRule
from apps.incidents.remediation.registry import action_choices, params_shown, rule_definition_validate
from apps.incidents.remediation.services import DECIDE_PERMISSION, remediation_approve, remediation_deny


class RemediationRuleForm(forms.ModelForm[RemediationRule]):
    """A rule whose matchers parse, whose action exists and whose target and parameters suit the action."""

    action = forms.ChoiceField(choices=())

    class Meta:
        model = RemediationRule
        fields = (
            "name",
            "enabled",
            "position",
            "matchers",
            "action",
            "target",
            "params",
            "requires_approval",
            "auto_run",
            "dry_run",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        action = self.fields["action"]
        assert isinstance(action, forms.ChoiceField)  # noqa: S101 - declared above
        action.choices = action_choices()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        try:
            rule_definition_validate(
                matchers=cleaned.get("matchers", ""),
                action=cleaned.get("action", ""),
                target=cleaned.get("target", ""),
                params=cleaned.get("params") if cleaned.get("params") is not None else {},
            )
        except DomainError as exc:
            for field, problems in (exc.fields or {"": [exc.detail]}).items():
                for problem in problems:
                    self.add_error(field if field in self.fields else None, problem)
        return cleaned


@admin.register(RemediationRule)
class RemediationRuleAdmin(admin.ModelAdmin[RemediationRule]):
    """Which incidents propose which remediation; every change is captured by the audit log."""

    form = RemediationRuleForm
    list_display = ("name", "enabled", "position", "action", "target", "requires_approval", "auto_run", "dry_run")
    list_filter = ("enabled", "action", "requires_approval", "auto_run", "dry_run")
    search_fields = ("name", "target", "matchers")
    ordering = ("position", "name")


def _json_block(value: Any) -> SafeString:
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>', json.dumps(value, indent=2, sort_keys=True)
    )


@admin.register(RemediationAttempt)
class RemediationAttemptAdmin(admin.ModelAdmin[RemediationAttempt]):
    """Attempts as they happened; nothing is edited here, but waiting ones can be approved or denied."""

    list_display = ("created_at", "incident", "action", "target", "status", "dry_run", "decided_by")
    list_filter = ("status", "action", "dry_run", "requires_approval")
    list_select_related = ("incident", "decided_by")
    search_fields = ("=public_id", "target", "incident__title")
    date_hierarchy = "created_at"
    actions = ("approve_selected", "deny_selected")
    fields = (
        "public_id",
        "incident",
        "rule",
        "action",
        "target",
        "params_shown",
        "status",
        "dry_run",
        "requires_approval",
        "blocked_reason",
        "decided_by",
        "decided_at",
        "approval_expires_at",
        "result_shown",
        "created_at",
        "started_at",
        "finished_at",
        "fencing_token",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(DECIDE_PERMISSION)

    @admin.display(description="params")
    def params_shown(self, attempt: RemediationAttempt) -> SafeString:
        return _json_block(params_shown(attempt.params))

    @admin.display(description="result")
    def result_shown(self, attempt: RemediationAttempt) -> SafeString:
        return _json_block(attempt.result)

    def _decide(self, request: HttpRequest, queryset: QuerySet[RemediationAttempt], decision: str) -> None:
        actor = request.user
        assert isinstance(actor, User)  # noqa: S101 - the admin only serves signed-in staff
        done = 0
        for attempt in queryset.select_related("incident"):
            try:
                if decision == "approve":
                    remediation_approve(attempt=attempt, actor=actor, via="admin")
                else:
                    remediation_deny(attempt=attempt, actor=actor, reason="denied in the admin", via="admin")
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{attempt}: {exc.detail}", messages.ERROR)
        if done:
            verb = "Approved" if decision == "approve" else "Denied"
            self.message_user(request, f"{verb} {done} remediation attempt(s).", messages.SUCCESS)

    @admin.action(description="Approve the selected attempts (they run at once)", permissions=["decide"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[RemediationAttempt]) -> None:
        self._decide(request, queryset, "approve")

    @admin.action(description="Deny the selected attempts", permissions=["decide"])
    def deny_selected(self, request: HttpRequest, queryset: QuerySet[RemediationAttempt]) -> None:
        self._decide(request, queryset, "deny")
