"""The Celery application: Redis broker, four queues, routes by task-name prefix, database beat schedule.

Queues:
- ``critical``: alert intake, escalation and paging — must never wait behind slow work;
- ``default``: everything else that is short;
- ``spark``: long Spark submissions and their polling;
- ``acks_late``: short tasks that must survive a worker dying mid-task without holding a prefetch slot.

Every task acknowledges late and is re-queued if its worker is lost, so a killed worker loses no work; tasks
must therefore be idempotent (STYLE.md).

Tracing (``apps.common.tracing``, on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set) is set up in the process that runs
the tasks: each child of the prefork pool (``worker_process_init``), or the worker itself for the solo and thread
pools (``worker_init``). A task continues the trace of whatever enqueued it (the context travels in the headers).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import after_task_publish, before_task_publish, worker_init, worker_process_init
from django_structlog.celery.steps import DjangoStructLogInitStep
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecap_site.settings.dev")

app = Celery("ecap")
app.config_from_object("django.conf:settings", namespace="CELERY")

QUEUES = ("critical", "default", "spark", "acks_late")

# Task names are "<app>.<verb_noun>"; the prefix decides the queue. First match wins.
TASK_ROUTES = {
    "incidents.*": {"queue": "critical"},
    "oncall.*": {"queue": "critical"},
    "spark.*": {"queue": "spark"},
    "privacy.run_*": {"queue": "spark"},
    "*": {"queue": "default"},
}

app.conf.update(
    task_queues=[Queue(name) for name in QUEUES],
    task_default_queue="default",
    task_routes=TASK_ROUTES,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_track_started=True,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=24 * 3600,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_send_task_events=True,
    task_send_sent_event=True,
)
app.autodiscover_tasks()


def local_broker_folders() -> list[str]:
    """The folders the embedded mode's filesystem broker and file result backend use (none with Redis). They must
    exist before anything publishes, whichever process does it first (``seed_demo``, the web server, the worker)."""
    from django.conf import settings

    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    folders = [options.get(key) for key in ("data_folder_in", "data_folder_out", "control_folder")]
    if settings.CELERY_RESULT_BACKEND.startswith("file://"):
        folders.append(settings.CELERY_RESULT_BACKEND.removeprefix("file://"))
    return [str(folder) for folder in folders if folder]


class StructlogWorkerStep(DjangoStructLogInitStep):
    """Binds the request id of the request that enqueued a task to the task's log lines.

    django_structlog's app already connects the publishing signals in every process (DJANGO_STRUCTLOG_CELERY_ENABLED);
    the library's worker step connects them a second time, which would log every enqueue twice.
    """

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        before_task_publish.disconnect(self.receiver.receiver_before_task_publish)
        after_task_publish.disconnect(self.receiver.receiver_after_task_publish)


app.steps["worker"].add(StructlogWorkerStep)


def _pool_forks(worker: Any) -> bool:
    """Whether the worker's pool forks children that run the tasks (prefork), rather than running them itself."""
    from celery import concurrency

    pool = getattr(worker, "pool_cls", None) or "prefork"
    pool_class = concurrency.get_implementation(pool) if isinstance(pool, str) else pool
    return getattr(pool_class, "__module__", "") == "celery.concurrency.prefork"


@worker_init.connect
def _tracing_in_worker(sender: Any = None, **_: Any) -> None:
    """Solo and thread pools run tasks in this process: set tracing up here (prefork children do it themselves)."""
    if not _pool_forks(sender):
        from apps.common.tracing import tracing_setup

        tracing_setup(component="worker")


@worker_process_init.connect
def _tracing_in_pool_child(**_: Any) -> None:
    """A prefork child: its own exporter, started after the fork."""
    from apps.common.tracing import tracing_setup

    tracing_setup(component="worker")
