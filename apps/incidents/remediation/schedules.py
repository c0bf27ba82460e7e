"""Periodic tasks of remediation, for the incidents app's ``AppConfig.periodic_tasks``."""

from __future__ import annotations

from apps.common.periodic import PeriodicTaskSpec

REMEDIATION_PERIODIC_TASKS = [
    PeriodicTaskSpec(
        name="incidents.remediation_sweep",
        task="incidents.remediation_sweep",
        every_seconds=60,
        description="Expire remediation approvals past their window; fail attempts whose worker was lost.",
    ),
]
