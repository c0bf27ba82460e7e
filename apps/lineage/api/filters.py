"""Filters of the lineage API."""

from __future__ import annotations

import django_filters

from apps.common.api.filters import IsoDateTimeFilter
from apps.lineage.models import Job, LineageEvent, Run


class JobFilter(django_filters.FilterSet):
    """By namespace, name (substring) and job type."""

    name = django_filters.CharFilter(lookup_expr="icontains")
    job_type = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Job
        fields = ("namespace", "name", "job_type")


class RunFilter(django_filters.FilterSet):
    """By job (public id, namespace, name), state, parent run and start time."""

    job = django_filters.UUIDFilter(field_name="job__public_id")
    job_namespace = django_filters.CharFilter(field_name="job__namespace")
    job_name = django_filters.CharFilter(field_name="job__name")
    started_after = IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = Run
        fields = ("job", "job_namespace", "job_name", "state", "parent_run_id", "started_after", "started_before")


class LineageEventFilter(django_filters.FilterSet):
    """By kind, event type, processing status, run, job and event or receipt time."""

    event_after = IsoDateTimeFilter(field_name="event_time", lookup_expr="gte")
    event_before = IsoDateTimeFilter(field_name="event_time", lookup_expr="lt")
    received_after = IsoDateTimeFilter(field_name="received_at", lookup_expr="gte")
    received_before = IsoDateTimeFilter(field_name="received_at", lookup_expr="lt")

    class Meta:
        model = LineageEvent
        fields = (
            "kind", "event_type", "status", "run_id", "job_namespace", "job_name", "producer",
            "event_after", "event_before", "received_after", "received_before",
        )  # fmt: skip
