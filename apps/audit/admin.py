"""Admin of the audit log, read-only for everyone: events (with a "Verify chain" button), security alerts,
checkpoints and anchors. Nothing here can add, change or delete a row; pages showing personal data are recorded."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template import engines
from django.urls import URLPattern, path
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.audit.access import AuditedReadAdminMixin
from apps.audit.canonical import SEPARATOR, canonical_text
from apps.audit.models import AuditAnchor, AuditCheckpoint, AuditEvent, SecurityAlert
from apps.audit.services import audit_verify_run

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

    _AdminBase = ModelAdmin[Any]
else:
    _AdminBase = object

VERIFY_PERMISSION = "audit.view_auditevent"
VERIFY_URL_NAME = "audit_auditevent_verify"

# The events changelist with a "Verify chain" button among the object tools (a POST form: verifying seals and records).
EVENT_CHANGE_LIST = engines["django"].from_string(
    """{% extends "admin/change_list.html" %}
{% block object-tools-items %}
  {% if perms.audit.view_auditevent %}
    <li>
      <form method="post" action="{% url 'admin:audit_auditevent_verify' %}" style="display:inline">
        {% csrf_token %}
        <input type="submit" class="button" value="Verify chain"
               title="Seal pending events, then check every hash, link and external anchor">
      </form>
    </li>
  {% endif %}
  {{ block.super }}
{% endblock %}
"""
)


def _json_block(value: Any) -> SafeString:
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>',
        json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False),
    )


class ReadOnlyAdminMixin(_AdminBase):
    """No adding, changing or deleting through the admin: the audit log is written by the application only."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, AuditedReadAdminMixin, admin.ModelAdmin[AuditEvent]):
    """Every event with its place in the chain; the changelist's "Verify chain" checks the whole chain."""

    list_display = ("seq", "occurred_at", "actor_label", "action", "target", "outcome", "risk_score")
    list_filter = ("action", "outcome", "actor_type")
    date_hierarchy = "occurred_at"
    search_fields = ("actor_label", "=target_id", "=request_id")
    show_full_result_count = False  # a COUNT(*) of the whole log on every page is not worth it
    list_per_page = 100
    change_list_template = EVENT_CHANGE_LIST
    personal_fields = ("actor_id", "actor_label", "ip", "user_agent")
    audit_default_purpose = "audit"
    fieldsets = (
        (None, {"fields": ("seq", "occurred_at", "action", "outcome", "purpose")}),
        (
            "Actor",
            {"fields": ("actor_type", "actor_id", "actor_label", "actor_token", "ip", "user_agent", "request_id")},
        ),
        ("Target", {"fields": ("target_type", "target_id", "target_label")}),
        ("What changed", {"fields": ("changes_shown", "details_shown")}),
        ("Risk", {"fields": ("risk_score", "risk_factors_shown")}),
        ("Chain", {"fields": ("prev_hash", "hash", "sealed_at", "canonical_shown")}),
    )
    readonly_fields = (
        "seq",
        "occurred_at",
        "action",
        "outcome",
        "purpose",
        "actor_type",
        "actor_id",
        "actor_label",
        "actor_token",
        "ip",
        "user_agent",
        "request_id",
        "target_type",
        "target_id",
        "target_label",
        "changes_shown",
        "details_shown",
        "risk_score",
        "risk_factors_shown",
        "prev_hash",
        "hash",
        "sealed_at",
        "canonical_shown",
    )

    @admin.display(description="Target")
    def target(self, obj: AuditEvent) -> str:
        ident = f"{obj.target_type}:{obj.target_id}" if obj.target_id else obj.target_type
        return f"{ident} ({obj.target_label})" if obj.target_label else ident

    @admin.display(description="Changes")
    def changes_shown(self, obj: AuditEvent) -> SafeString:
        return _json_block(obj.changes)

    @admin.display(description="Details")
    def details_shown(self, obj: AuditEvent) -> SafeString:
        return _json_block(obj.details)

    @admin.display(description="Risk factors")
    def risk_factors_shown(self, obj: AuditEvent) -> SafeString:
        return _json_block(obj.risk_factors)

    @admin.display(description="Canonical text (what the hash covers; ␟ separates the columns)")
    def canonical_shown(self, obj: AuditEvent) -> SafeString:
        fields = {field.name: getattr(obj, field.name) for field in obj._meta.concrete_fields}
        return format_html(
            '<pre style="white-space: pre-wrap; margin: 0">{}</pre>',
            canonical_text(fields).replace(SEPARATOR, " ␟ "),
        )

    def get_urls(self) -> list[URLPattern]:
        verify = path("verify/", self.admin_site.admin_view(self.verify_view), name=VERIFY_URL_NAME)
        return [verify, *super().get_urls()]

    def verify_view(self, request: HttpRequest) -> HttpResponse:
        """Seal, verify the chain with its anchors, record the run, and report the outcome as a message."""
        if not request.user.has_perm(VERIFY_PERMISSION):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        report = audit_verify_run()
        if report.ok:
            messages.success(request, report.summary())
        else:
            extra = len(report.problems) - 1
            suffix = f" ({extra} more problem(s); see the verify event's details)" if extra > 0 else ""
            messages.error(request, report.summary() + suffix)
        return redirect("admin:audit_auditevent_changelist")


@admin.register(SecurityAlert)
class SecurityAlertAdmin(ReadOnlyAdminMixin, AuditedReadAdminMixin, admin.ModelAdmin[SecurityAlert]):
    """Security rules that fired (failed-login bursts, privilege escalation, large exports, high risk)."""

    list_display = ("created_at", "rule", "summary", "event_seq")
    list_filter = ("rule",)
    date_hierarchy = "created_at"
    search_fields = ("summary", "=dedup_key")
    personal_fields = ("summary", "dedup_key", "details")
    audit_default_purpose = "security"


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[AuditCheckpoint]):
    """Verified points kept when old events were purged; verification restarts from the latest."""

    list_display = ("seq", "hash", "created_at", "reason")


@admin.register(AuditAnchor)
class AuditAnchorAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[AuditAnchor]):
    """Copies of the chain head written to the external sink."""

    list_display = ("seq", "hash", "created_at", "sink", "location")
    list_filter = ("sink",)
