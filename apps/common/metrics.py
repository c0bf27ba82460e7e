"""What every app's ``metrics`` module builds on, and the platform's own metrics: Celery queue depth and task latency.

Two kinds of business metric reach ``/metrics``, both the same whichever process answers the scrape:

- values known from the database are read at scrape time by a collector (``register``), as incidents does;
- events that happen in a Celery worker or another web process (a task starting, an escalation step running late)
  are counted in a :class:`SharedHistogram` whose buckets live in Redis (the Celery broker and cache), so a web pod
  scraped by Prometheus reports what the workers observed. Without Redis (``make run``: one embedded process) the
  buckets stay in the process.

This is why the portal needs no Prometheus multiprocess mode for its own metrics; the ``/metrics`` view still
honours ``PROMETHEUS_MULTIPROC_DIR`` for django-prometheus' per-process counters (``exposition_registry``).

Labels are low-cardinality by construction: queue names come from ``ecap_site.celery.QUEUES`` (anything else is
``other``), and no label ever carries a user, a token or a free-text value.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import structlog
from django.conf import settings
from prometheus_client.core import REGISTRY, CollectorRegistry, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

logger = structlog.get_logger(__name__)

PUBLISHED_HEADER = "ecap_published_at"
QUEUE_LENGTH = "ecap_celery_queue_length"
TASK_LATENCY = "ecap_celery_task_latency_seconds"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
REDIS_TIMEOUT = 1.0  # seconds: a scrape or a task must never hang on the metrics store

_collectors: list[Collector] = []
_collectors_lock = threading.Lock()


def register(collector: Collector) -> None:
    """Register ``collector`` once per process (by class) on the default registry and for ``exposition_registry``."""
    with _collectors_lock:
        if any(type(c) is type(collector) for c in _collectors):
            return
        _collectors.append(collector)
        REGISTRY.register(collector)


def exposition_registry() -> CollectorRegistry:
    """The registry ``/metrics`` serves: the default one, or under ``PROMETHEUS_MULTIPROC_DIR`` the multiprocess
    collector (django-prometheus' counters summed over gunicorn workers) plus the portal's own collectors, which
    read shared state and so must be added once, not per process."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    for collector in _collectors:
        registry.register(collector)
    return registry


# --- shared histograms -------------------------------------------------------------------------------------------
_redis_client: Any = None
_redis_lock = threading.Lock()
_local: dict[str, dict[str, float]] = {}
_local_lock = threading.Lock()


def _redis() -> Any:
    """The Redis client of the shared metric store, or None when the portal runs without Redis (embedded mode)."""
    global _redis_client
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None
    with _redis_lock:
        if _redis_client is None:
            import redis

            _redis_client = redis.Redis.from_url(
                url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
            )
        return _redis_client


def store_key(name: str) -> str:
    """The Redis hash of one shared metric, inside the run's key prefix (tests and environments never mix)."""
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    return f"{prefix}ecap:metrics:{name}"


def _bound(value: float) -> str:
    return "+Inf" if math.isinf(value) else repr(float(value))


class SharedHistogram:
    """A Prometheus histogram whose counts every process adds to and every process reports (see the module doc).

    The store is one Redis hash per metric; a field is ``<label values as JSON>\\t<bucket bound>`` (non-cumulative
    count) or ``...\\tsum``. Counts only ever grow, so ``rate()`` and ``histogram_quantile()`` work as usual.
    """

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.bounds = (*(float(b) for b in sorted(buckets)), math.inf)

    def observe(self, value: float, *labelvalues: str) -> None:
        """Count one observation; never raises (a metric must not fail the work it measures)."""
        if len(labelvalues) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {labelvalues}")
        value = max(0.0, float(value))
        labels = json.dumps(list(labelvalues))
        bucket = next(b for b in self.bounds if value <= b)
        fields = {f"{labels}\t{_bound(bucket)}": 1.0, f"{labels}\tsum": value}
        client = _redis()
        try:
            if client is None:
                with _local_lock:
                    stored = _local.setdefault(self.name, {})
                    for field, amount in fields.items():
                        stored[field] = stored.get(field, 0.0) + amount
                return
            pipe = client.pipeline(transaction=False)
            pipe.hincrby(store_key(self.name), f"{labels}\t{_bound(bucket)}", 1)
            pipe.hincrbyfloat(store_key(self.name), f"{labels}\tsum", value)
            pipe.execute()
        except Exception as exc:
            logger.warning("shared_metric_not_recorded", metric=self.name, error=type(exc).__name__)

    def _stored(self) -> dict[str, float]:
        client = _redis()
        if client is None:
            with _local_lock:
                return dict(_local.get(self.name, {}))
        raw = client.hgetall(store_key(self.name))
        return {k.decode(): float(v) for k, v in raw.items()}

    def family(self) -> HistogramMetricFamily:
        """The histogram as stored now (raises when the store cannot be read)."""
        per_labels: dict[tuple[str, ...], dict[str, float]] = {}
        for field, amount in self._stored().items():
            labels, _, part = field.rpartition("\t")
            per_labels.setdefault(tuple(json.loads(labels)), {})[part] = amount
        family = HistogramMetricFamily(self.name, self.documentation, labels=list(self.labelnames))
        for labelvalues, parts in sorted(per_labels.items()):
            running, buckets = 0.0, []
            for bound in self.bounds:
                running += parts.get(_bound(bound), 0.0)
                buckets.append(("+Inf" if math.isinf(bound) else str(bound), running))
            family.add_metric(list(labelvalues), buckets, sum_value=parts.get("sum", 0.0))
        return family

    def describe_family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self.name, self.documentation, labels=list(self.labelnames))


class SharedHistogramCollector(Collector):
    """Reports shared histograms; one per app, so an app's families are registered with the app."""

    def __init__(self, histograms: Iterable[SharedHistogram]) -> None:
        self.histograms = tuple(histograms)

    def describe(self) -> Iterator[Any]:
        for histogram in self.histograms:
            yield histogram.describe_family()

    def collect(self) -> Iterator[Any]:
        for histogram in self.histograms:
            try:
                yield histogram.family()
            except Exception as exc:  # a scrape must never fail because Redis does
                logger.warning("shared_metric_unavailable", metric=histogram.name, error=type(exc).__name__)


def histogram_family(
    name: str,
    documentation: str,
    buckets: Sequence[float],
    series: dict[tuple[str, ...], list[float]],
    labels: list[str],
) -> HistogramMetricFamily:
    """A histogram family computed at scrape time from raw values (one list of values per label set)."""
    family = HistogramMetricFamily(name, documentation, labels=labels)
    for labelvalues, values in sorted(series.items()):
        counts = [(str(float(b)), sum(1 for v in values if v <= b)) for b in buckets]
        counts.append(("+Inf", len(values)))
        family.add_metric(list(labelvalues), counts, sum_value=sum(values))
    return family


# --- Celery: queue depth and task latency ------------------------------------------------------------------------
TASK_LATENCY_HISTOGRAM = SharedHistogram(
    TASK_LATENCY, "Seconds from a task's publication to its start on a worker, per queue.", ["queue"], LATENCY_BUCKETS
)


def queue_label(queue: str | None) -> str:
    """The queue as a label: one of the declared queues, else ``other`` (bounded cardinality)."""
    from ecap_site.celery import QUEUES

    return queue if queue in QUEUES else "other"


def on_before_task_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Stamp the publication time on the message, so the worker can tell how long the task waited."""
    if headers is not None:
        headers.setdefault(PUBLISHED_HEADER, time.time())


def on_task_prerun(task: Any = None, **_: Any) -> None:
    """Observe the wait of a task that starts now (tasks run eagerly or published by others carry no stamp)."""
    request = getattr(task, "request", None)
    published = getattr(request, PUBLISHED_HEADER, None) if request is not None else None
    if published is None:
        return
    try:
        waited = time.time() - float(published)
    except (TypeError, ValueError):
        return
    delivery = getattr(request, "delivery_info", None) or {}
    TASK_LATENCY_HISTOGRAM.observe(waited, queue_label(delivery.get("routing_key")))


def queue_lengths(queues: Iterable[str]) -> dict[str, int]:
    """Messages waiting on each queue, asked of the broker (Redis lists, the filesystem broker's files, …)."""
    from ecap_site.celery import app

    lengths: dict[str, int] = {}
    options = {
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.2,
        "socket_connect_timeout": REDIS_TIMEOUT,
        "socket_timeout": 2 * REDIS_TIMEOUT,
    }
    with app.connection_for_read(transport_options=options) as connection:
        channel = connection.default_channel
        for queue in queues:
            # A declaration answers the message count. Not a passive one: kombu's Redis transport reports a queue
            # under a global key prefix as missing; and declaring what Celery declares anyway changes nothing.
            _, count, _ = channel.queue_declare(queue=queue, durable=True, auto_delete=False)
            lengths[queue] = int(count)
    return lengths


class CeleryCollector(Collector):
    """Queue depth per queue, asked of the broker at scrape time, and the shared task-latency histogram."""

    def describe(self) -> Iterator[Any]:
        yield GaugeMetricFamily(QUEUE_LENGTH, "Tasks waiting on each Celery queue.", labels=["queue"])
        yield TASK_LATENCY_HISTOGRAM.describe_family()

    def collect(self) -> Iterator[Any]:
        from ecap_site.celery import QUEUES

        try:
            lengths = queue_lengths(QUEUES)
        except Exception as exc:  # the broker being down must not fail the scrape (readiness reports it)
            logger.warning("celery_queue_metrics_unavailable", error=type(exc).__name__)
        else:
            gauge = GaugeMetricFamily(QUEUE_LENGTH, "Tasks waiting on each Celery queue.", labels=["queue"])
            for queue in QUEUES:
                gauge.add_metric([queue], lengths.get(queue, 0))
            yield gauge
        yield from SharedHistogramCollector([TASK_LATENCY_HISTOGRAM]).collect()


_signals_connected = False


def register_collector() -> None:
    """Register the Celery collector and connect the publish/start signals (once per process)."""
    global _signals_connected
    register(CeleryCollector())
    if not _signals_connected:
        from celery.signals import before_task_publish, task_prerun

        before_task_publish.connect(on_before_task_publish, weak=False, dispatch_uid="common.metrics.published")
        task_prerun.connect(on_task_prerun, weak=False, dispatch_uid="common.metrics.latency")
        _signals_connected = True
