"""Periodic tasks declared in code.

Each app lists its schedules as ``periodic_tasks`` on its AppConfig; ``manage.py sync_periodic_tasks`` upserts them
into django-celery-beat's tables (and removes those no longer declared), so beat schedules live in the database
and every beat replica agrees on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MANAGED_PREFIX = "code:"


@dataclass(frozen=True)
class PeriodicTaskSpec:
    """One schedule: a cron expression (``"m h dom mon dow"``, in UTC) or a fixed interval in seconds."""

    name: str
    task: str
    crontab: str | None = None
    every_seconds: int | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None
    description: str = ""
    enabled: bool = True

    def __post_init__(self) -> None:
        if (self.crontab is None) == (self.every_seconds is None):
            raise ValueError(f"{self.name}: give exactly one of crontab or every_seconds")
        if self.crontab is not None and len(self.crontab.split()) != 5:
            raise ValueError(f"{self.name}: crontab needs five fields, got {self.crontab!r}")
        if self.every_seconds is not None and self.every_seconds <= 0:
            raise ValueError(f"{self.name}: every_seconds must be positive")

    @property
    def db_name(self) -> str:
        """Name of the django-celery-beat row; the prefix marks rows owned by code."""
        return f"{MANAGED_PREFIX}{self.name}"


def declared_periodic_tasks() -> list[PeriodicTaskSpec]:
    """Every schedule declared by an installed app, checked for duplicate names."""
    from django.apps import apps

    specs: list[PeriodicTaskSpec] = []
    for config in apps.get_app_configs():
        specs.extend(getattr(config, "periodic_tasks", []))
    names = [spec.name for spec in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"periodic task names declared twice: {', '.join(duplicates)}")
    return specs
