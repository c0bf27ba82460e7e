"""Filters of the on-call API."""

from __future__ import annotations

import django_filters

from apps.common.api.filters import IsoDateTimeFilter
from apps.oncall.models import ContactMethod, EscalationPolicy, NotificationRule, Override, Schedule, Team


class TeamFilter(django_filters.FilterSet):
    """``?name=`` (substring) and ``?member=<username>``."""

    name = django_filters.CharFilter(lookup_expr="icontains")
    member = django_filters.CharFilter(field_name="members__username", distinct=True)

    class Meta:
        model = Team
        fields = ("name", "member")


class ScheduleFilter(django_filters.FilterSet):
    """``?name=`` (substring), ``?team=<team id>``, ``?member=<username>`` (has a turn in a layer)."""

    name = django_filters.CharFilter(lookup_expr="icontains")
    team = django_filters.UUIDFilter(field_name="team__public_id")
    member = django_filters.CharFilter(field_name="layers__turns__user__username", distinct=True)

    class Meta:
        model = Schedule
        fields = ("name", "team", "member")


class OverrideFilter(django_filters.FilterSet):
    """By schedule id, user (username), mode, and time: ``?ends_after=`` / ``?starts_before=`` select the overrides
    overlapping a range."""

    schedule = django_filters.UUIDFilter(field_name="schedule__public_id")
    user = django_filters.CharFilter(field_name="user__username")
    ends_after = IsoDateTimeFilter(field_name="end", lookup_expr="gt")
    starts_before = IsoDateTimeFilter(field_name="start", lookup_expr="lt")

    class Meta:
        model = Override
        fields = ("schedule", "user", "mode", "ends_after", "starts_before")


class PolicyFilter(django_filters.FilterSet):
    """``?name=`` (exact, as incidents name it) and ``?schedule=<schedule id>`` (a step notifies it)."""

    schedule = django_filters.UUIDFilter(field_name="steps__schedule__public_id", distinct=True)

    class Meta:
        model = EscalationPolicy
        fields = ("name", "schedule")


class ContactMethodFilter(django_filters.FilterSet):
    """By kind, enabled, and (administrators) user."""

    user = django_filters.CharFilter(field_name="user__username")

    class Meta:
        model = ContactMethod
        fields = ("kind", "enabled", "user")


class NotificationRuleFilter(django_filters.FilterSet):
    """By contact method id, urgency and (administrators) user."""

    contact_method = django_filters.UUIDFilter(field_name="contact_method__public_id")
    user = django_filters.CharFilter(field_name="user__username")

    class Meta:
        model = NotificationRule
        fields = ("contact_method", "urgency", "user")
