"""Celery entry points of the on-call app (queue ``critical``): the escalation and delivery sweepers, one step run,
one send. Each is idempotent: a step runs only under its fencing token, a send only under its claim."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from apps.oncall import engine, notify
from apps.oncall import schedule_tasks as _schedule_tasks  # noqa: F401 - registers the schedule tasks


@shared_task(name="oncall.sweep_escalations", acks_late=True, ignore_result=True)
def sweep_escalations() -> int:
    """Claim the escalation steps that are due (and those whose worker was lost); start missed escalations."""
    return engine.sweep_escalations()


@shared_task(
    name="oncall.run_step",
    acks_late=True,
    ignore_result=True,
    # A step commits all or nothing and runs only under its token: retrying a database error is safe.
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    retry_backoff_max=10,
    max_retries=3,
)
def run_step(escalation_id: int, token: int) -> str:
    """Run an escalation's claimed step(s); a stale or duplicate delivery of the task does nothing."""
    escalation = engine.step_run(escalation_id=escalation_id, token=token)
    return escalation.status if escalation is not None else "skipped"


@shared_task(name="oncall.sweep_deliveries", acks_late=True, ignore_result=True)
def sweep_deliveries() -> int:
    """Publish the deliveries that are due: delayed notification rules, retries, sends whose worker was lost."""
    return notify.sweep_deliveries()


@shared_task(
    name="oncall.send_delivery",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    retry_backoff_max=10,
    max_retries=3,
)
def send_delivery(delivery_id: int) -> str:
    """Send one delivery (a no-op if it is not due, already sent, or being sent)."""
    delivery = notify.delivery_send(delivery_id=delivery_id)
    return delivery.status if delivery is not None else "skipped"
