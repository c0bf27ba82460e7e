"""App configuration of oncall."""

from __future__ import annotations

from django.apps import AppConfig

from apps.audit.capture import Governed
from apps.common.periodic import PeriodicTaskSpec


class OncallConfig(AppConfig):
    """Schedules, rotations, overrides, escalation policies and engine, notification channels."""

    name = "apps.oncall"
    label = "oncall"
    verbose_name = "On-call"
    audited_models = [
        Governed("oncall.Team"),
        Governed("oncall.Team", field="members"),
        Governed("oncall.Schedule", masked=("feed_token",), ignored=("updated_at",)),
        Governed("oncall.Layer"),
        Governed("oncall.LayerMember"),
        Governed("oncall.Override"),
        Governed("oncall.EscalationPolicy", ignored=("updated_at",)),
        Governed("oncall.EscalationStep"),
        Governed("oncall.EscalationStep", field="users"),
        Governed("oncall.ContactMethod", sensitivity=20, masked=("address", "secret")),
        Governed("oncall.NotificationRule"),
        Governed("oncall.UserFeed", masked=("token",)),
    ]
    periodic_tasks = [
        PeriodicTaskSpec(
            name="oncall.sweep_escalations",
            task="oncall.sweep_escalations",
            every_seconds=5,
            description="Run the escalation steps that are due (and re-claim steps whose worker was lost).",
        ),
        PeriodicTaskSpec(
            name="oncall.sweep_deliveries",
            task="oncall.sweep_deliveries",
            every_seconds=10,
            description="Send deliveries that are due: delayed notification rules, retries, and lost sends.",
        ),
        PeriodicTaskSpec(
            name="oncall.check_gaps",
            task="oncall.check_gaps",
            crontab="7 * * * *",
            description="Report schedule gaps (nobody on call) in the coming days as alerts.",
        ),
        PeriodicTaskSpec(
            name="oncall.send_handoff_notices",
            task="oncall.send_handoff_notices",
            every_seconds=300,
            description="Tell people their shift is about to start.",
        ),
    ]

    def ready(self) -> None:
        """Connect the escalation engine to the incidents app's signals (``dispatch_uid``: once per process)."""
        from apps.oncall import receivers  # noqa: F401 - connects on import
        from apps.oncall.metrics import register_collector

        register_collector()
