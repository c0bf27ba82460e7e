"""Celery entry points of privacy (queue ``default``): deadline reminders."""

from __future__ import annotations

from celery import shared_task

from apps.privacy.requests import deadlines_sweep


@shared_task(name="privacy.sweep_deadlines", acks_late=True, ignore_result=True)
def sweep_deadlines() -> int:
    """Raise the reminders (7, 3, 1 days before) and breaches of open data-subject requests, each once."""
    return deadlines_sweep()
