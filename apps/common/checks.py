"""System checks of the shared kernel: declared periodic tasks must be well-formed and route to a known queue."""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from typing import Any

from django.apps import apps
from django.core import checks


@checks.register()
def periodic_tasks_check(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every declared schedule names a registered task and a known queue."""
    from apps.common.periodic import declared_periodic_tasks
    from ecap_site.celery import QUEUES, app

    try:
        specs = declared_periodic_tasks()
    except ValueError as exc:
        return [checks.Error(str(exc), id="common.E001")]
    for config in apps.get_app_configs():
        if config.name.startswith("apps.") and find_spec(f"{config.name}.tasks") is not None:
            import_module(f"{config.name}.tasks")
    errors: list[checks.CheckMessage] = []
    for spec in specs:
        if spec.task not in app.tasks:
            errors.append(checks.Error(f"periodic task {spec.name} names unknown task {spec.task}", id="common.E002"))
        if spec.queue is not None and spec.queue not in QUEUES:
            errors.append(
                checks.Error(f"periodic task {spec.name} routes to unknown queue {spec.queue}", id="common.E003")
            )
    return errors
