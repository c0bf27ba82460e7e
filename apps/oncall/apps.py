"""App configuration of oncall."""

from __future__ import annotations

from django.apps import AppConfig


class OncallConfig(AppConfig):
    """Schedules, rotations, overrides, escalation policies and engine, notification channels."""

    name = "apps.oncall"
    label = "oncall"
    verbose_name = "On-call"
