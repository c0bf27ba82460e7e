"""Admin of the on-call app: teams, schedules (layers and overrides inline; a layer's turns on the layer's page),
escalation policies (steps inline), contact methods (addresses masked in the list; opening one is an audited read)
and notification rules; escalations, deliveries and hand-off notices read-only, for troubleshooting.

The forms check what the services check (time zones, restrictions, addresses, step targets), so the admin cannot
store what the API would refuse.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from apps.audit.access import AuditedReadAdminMixin
from apps.oncall import services
from apps.oncall.choices import StepKind
from apps.oncall.models import (
    ContactMethod,
    Delivery,
    Escalation,
    EscalationPolicy,
    EscalationStep,
    HandoffNotice,
    Layer,
    LayerMember,
    NotificationRule,
    Override,
    Schedule,
    Team,
)
from apps.oncall.schedules import restrictions_validate


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Written by the engine only: shown for troubleshooting, never edited here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _domain(exc: services.OncallInvalid) -> ValidationError:
    return ValidationError(exc.detail)


# --- teams ------------------------------------------------------------------------------------------------------
@admin.register(Team)
class TeamAdmin(admin.ModelAdmin[Team]):
    list_display = ("name", "member_count", "description")
    search_fields = ("name",)
    filter_horizontal = ("members",)
    readonly_fields = ("public_id",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(member_total=Count("members"))

    @admin.display(description="Members", ordering="member_total")
    def member_count(self, team: Team) -> int:
        return int(getattr(team, "member_total", 0))


# --- schedules --------------------------------------------------------------------------------------------------
class LayerForm(forms.ModelForm[Layer]):
    class Meta:
        model = Layer
        fields = (
            "name", "position", "time_zone", "rotation_start", "shift_length", "shift_unit", "restrictions",
            "active_from", "active_until",
        )  # fmt: skip

    def clean_restrictions(self) -> list[dict[str, Any]]:
        return restrictions_validate(self.cleaned_data.get("restrictions"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, until = data.get("active_from"), data.get("active_until")
        if start and until and until <= start:
            self.add_error("active_until", "Must be after active from.")
        return data


class LayerInline(admin.TabularInline[Layer, Schedule]):
    model = Layer
    form = LayerForm
    extra = 0
    show_change_link = True  # the layer's page edits its turns


class OverrideForm(forms.ModelForm[Override]):
    class Meta:
        model = Override
        fields = ("schedule", "user", "start", "end", "mode", "reason")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and end <= start:
            self.add_error("end", "Must be after the start.")
        return data


class OverrideInline(admin.TabularInline[Override, Schedule]):
    model = Override
    form = OverrideForm
    fields = ("user", "start", "end", "mode", "reason")
    extra = 0
    autocomplete_fields = ("user",)
    ordering = ("-start",)


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin[Schedule]):
    list_display = ("name", "time_zone", "team", "layer_count", "updated_at")
    list_filter = ("time_zone", "team")
    search_fields = ("name",)
    readonly_fields = ("public_id", "created_at", "updated_at")
    exclude = ("feed_token",)  # the feed URL's secret
    inlines = (LayerInline, OverrideInline)
    list_select_related = ("team",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Schedule]:
        return super().get_queryset(request).annotate(layer_total=Count("layers"))

    @admin.display(description="Layers", ordering="layer_total")
    def layer_count(self, schedule: Schedule) -> int:
        return int(getattr(schedule, "layer_total", 0))


class TurnInline(admin.TabularInline[LayerMember, Layer]):
    model = LayerMember
    fields = ("position", "user")
    extra = 1
    autocomplete_fields = ("user",)
    ordering = ("position",)


@admin.register(Layer)
class LayerAdmin(admin.ModelAdmin[Layer]):
    form = LayerForm
    list_display = ("name", "schedule", "position", "shift_length", "shift_unit", "time_zone", "rotation_start")
    list_filter = ("schedule", "shift_unit")
    inlines = (TurnInline,)
    list_select_related = ("schedule",)
    fields = ("schedule", *LayerForm.Meta.fields)


@admin.register(Override)
class OverrideAdmin(admin.ModelAdmin[Override]):
    form = OverrideForm
    list_display = ("schedule", "user", "start", "end", "mode", "reason", "created_by")
    list_filter = ("schedule", "mode")
    date_hierarchy = "start"
    autocomplete_fields = ("user",)
    readonly_fields = ("public_id", "created_by", "created_at")
    list_select_related = ("schedule", "user", "created_by")

    def save_model(self, request: HttpRequest, obj: Override, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


# --- escalation policies ----------------------------------------------------------------------------------------
class StepForm(forms.ModelForm[EscalationStep]):
    class Meta:
        model = EscalationStep
        fields = ("position", "kind", "users", "schedule", "team", "wait_minutes")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind")
        if kind == StepKind.NOTIFY_USERS and not data.get("users"):
            self.add_error("users", "Name at least one user to notify.")
        if kind == StepKind.NOTIFY_SCHEDULE and not data.get("schedule"):
            self.add_error("schedule", "Name the schedule to notify.")
        if kind == StepKind.NOTIFY_TEAM and not data.get("team"):
            self.add_error("team", "Name the team to notify.")
        if kind == StepKind.WAIT and not data.get("wait_minutes"):
            self.add_error("wait_minutes", "A wait lasts at least one minute.")
        return data


class StepFormSet(forms.BaseInlineFormSet):
    """A policy needs at least one step that notifies someone."""

    def clean(self) -> None:
        super().clean()
        kinds = [
            form.cleaned_data.get("kind")
            for form in self.forms
            if getattr(form, "cleaned_data", None) and not form.cleaned_data.get("DELETE")
        ]
        if not any(kind in services.NOTIFY_KINDS for kind in kinds):
            raise ValidationError("A policy needs at least one step that notifies someone.")


class StepInline(admin.TabularInline[EscalationStep, EscalationPolicy]):
    model = EscalationStep
    form = StepForm
    formset = StepFormSet
    extra = 0
    ordering = ("position",)
    autocomplete_fields = ("users",)


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin[EscalationPolicy]):
    list_display = ("name", "repeat_count", "business_time_zone", "business_start", "business_end", "updated_at")
    search_fields = ("name",)
    readonly_fields = ("public_id", "created_at", "updated_at")
    inlines = (StepInline,)


# --- contact methods and rules ----------------------------------------------------------------------------------
class ContactMethodForm(forms.ModelForm[ContactMethod]):
    """The address is checked by kind; the secret is never shown, and left empty it keeps the one stored."""

    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Webhooks only (at least 16 characters). Leave empty to keep the current one.",
    )

    class Meta:
        model = ContactMethod
        fields = ("user", "kind", "label", "address", "secret", "enabled")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind")
        if not kind:
            return data
        try:
            if "address" in data:
                data["address"] = services.address_normalise(kind=kind, address=data["address"])
        except services.OncallInvalid as exc:
            self.add_error("address", _domain(exc))
        secret = data.get("secret") or (self.instance.secret if self.instance.pk else "")
        try:
            data["secret"] = services.secret_check(kind=kind, secret=secret or "")
        except services.OncallInvalid as exc:
            self.add_error("secret", _domain(exc))
        return data


@admin.register(ContactMethod)
class ContactMethodAdmin(AuditedReadAdminMixin, admin.ModelAdmin[ContactMethod]):
    form = ContactMethodForm
    list_display = ("user", "kind", "label", "masked_address", "enabled", "created_at")
    list_filter = ("kind", "enabled")
    search_fields = ("user__username", "label")
    autocomplete_fields = ("user",)
    readonly_fields = ("public_id", "created_at")
    list_select_related = ("user",)
    personal_fields = ("address",)
    audit_default_purpose = "oncall: contact method administration"

    @admin.display(description="Address")
    def masked_address(self, method: ContactMethod) -> str:
        return services.address_mask(kind=method.kind, address=method.address)


class NotificationRuleForm(forms.ModelForm[NotificationRule]):
    class Meta:
        model = NotificationRule
        fields = ("user", "contact_method", "delay_minutes", "urgency")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        user, method = data.get("user"), data.get("contact_method")
        if user and method and method.user_id != user.pk:
            self.add_error("contact_method", "The contact method belongs to someone else.")
        return data


@admin.register(NotificationRule)
class NotificationRuleAdmin(admin.ModelAdmin[NotificationRule]):
    form = NotificationRuleForm
    list_display = ("user", "contact_method", "delay_minutes", "urgency")
    list_filter = ("urgency",)
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)
    list_select_related = ("user", "contact_method", "contact_method__user")


# --- what the engine wrote --------------------------------------------------------------------------------------
@admin.register(Escalation)
class EscalationAdmin(ReadOnlyAdmin):
    list_display = (
        "incident", "policy", "status", "stop_reason", "step_index", "cycle", "due_at", "fencing_token", "started_at",
    )  # fmt: skip
    list_filter = ("status", "stop_reason")
    date_hierarchy = "started_at"
    list_select_related = ("incident", "policy")
    search_fields = ("=incident__id",)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at", "purpose", "incident", "user", "kind", "status", "due_at", "tries", "sent_at",
        "response_status", "last_error",
    )  # fmt: skip
    list_filter = ("status", "purpose", "kind")
    date_hierarchy = "created_at"
    list_select_related = ("incident", "user")
    search_fields = ("=incident__id", "user__username")
    exclude = ("payload",)


@admin.register(HandoffNotice)
class HandoffNoticeAdmin(ReadOnlyAdmin):
    list_display = ("schedule", "user", "shift_start", "sent_at")
    list_filter = ("schedule",)
    list_select_related = ("schedule", "user")
