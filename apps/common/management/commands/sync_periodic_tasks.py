"""``manage.py sync_periodic_tasks``: upsert the schedules declared in code into django-celery-beat."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from apps.common.periodic import MANAGED_PREFIX, PeriodicTaskSpec, declared_periodic_tasks


def _schedule_fields(spec: PeriodicTaskSpec) -> dict[str, Any]:
    if spec.crontab is not None:
        minute, hour, day_of_month, month_of_year, day_of_week = spec.crontab.split()
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
            timezone="UTC",
        )
        return {"crontab": crontab, "interval": None}
    interval, _ = IntervalSchedule.objects.get_or_create(every=spec.every_seconds, period=IntervalSchedule.SECONDS)
    return {"interval": interval, "crontab": None}


class Command(BaseCommand):
    help = "Create or update the periodic tasks declared by the apps, and delete code-owned ones no longer declared."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Say what would change without changing it.")

    def handle(self, *args: Any, **options: Any) -> None:
        specs = declared_periodic_tasks()
        with transaction.atomic():
            seen = []
            for spec in specs:
                defaults = {
                    "task": spec.task,
                    "kwargs": json.dumps(spec.kwargs, sort_keys=True),
                    "queue": spec.queue,
                    "description": spec.description,
                    "enabled": spec.enabled,
                    **_schedule_fields(spec),
                }
                _, created = PeriodicTask.objects.update_or_create(name=spec.db_name, defaults=defaults)
                seen.append(spec.db_name)
                self.stdout.write(f"{'created' if created else 'updated'} {spec.db_name}")
            stale = PeriodicTask.objects.filter(name__startswith=MANAGED_PREFIX).exclude(name__in=seen)
            for name in stale.values_list("name", flat=True):
                self.stdout.write(f"deleted {name}")
            stale.delete()
            if options["dry_run"]:
                transaction.set_rollback(True)
                self.stdout.write("dry run: nothing saved")
