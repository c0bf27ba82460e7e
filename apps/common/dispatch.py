"""Publishing Celery tasks off the request path, for intake endpoints that store first and answer at once.

A daemon thread per process takes the ids an endpoint stored and publishes them, ``batch`` at a time, through the
``publish`` callable. If the broker is down, or the process dies before publishing, nothing is lost: the rows stay
pending and the app's beat sweeper processes them. After a publish failure the thread publishes nothing for
``BACKOFF`` seconds (the sweeper catches up) unless ``resume`` is called.

Each id travels with the trace context and log fields of the request that dispatched it (``context_capture``), so
the task it becomes continues that request's trace and logs its request id. A batch mixing ids of several requests
is published outside any of them (one message cannot belong to several traces).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable

import structlog

from apps.common.tracing import CapturedContext, context_capture

logger = structlog.get_logger(__name__)

BACKOFF = 5.0  # seconds without publishing after the broker refused one


class Publisher:
    """One background publisher per kind of work (alert payloads, lineage events)."""

    def __init__(self, name: str, publish: Callable[[list[int]], None], *, batch: int, max_backlog: int) -> None:
        self.name = name
        self.publish = publish
        self.batch = batch
        self.max_backlog = max_backlog
        self._queue: queue.Queue[tuple[int, CapturedContext]] = queue.Queue(maxsize=max_backlog)
        self._lock = threading.Lock()
        self._owner_pid = 0
        self._paused_until = 0.0

    def dispatch(self, ids: Iterable[int]) -> None:
        """Ask for the rows to be processed soon; never blocks and never raises."""
        self._ensure_thread()
        captured = context_capture()
        for row_id in ids:
            try:
                self._queue.put_nowait((row_id, captured))
            except queue.Full:
                logger.warning("dispatch_backlog_full", publisher=self.name, id=row_id)
                return

    def resume(self) -> None:
        """Publish again at once (after the broker is known to be back)."""
        self._paused_until = 0.0

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued in this process was handed to the broker (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def _ensure_thread(self) -> None:
        if self._owner_pid == os.getpid():
            return
        with self._lock:
            if self._owner_pid == os.getpid():
                return
            self._queue = queue.Queue(maxsize=self.max_backlog)  # a forked child must not share its parent's queue
            threading.Thread(
                target=self._publish_forever, args=(self._queue,), name=f"{self.name}-dispatch", daemon=True
            ).start()
            self._owner_pid = os.getpid()

    def _publish_forever(self, ids: queue.Queue[tuple[int, CapturedContext]]) -> None:
        while True:
            items = [ids.get()]
            while len(items) < self.batch:
                try:
                    items.append(ids.get_nowait())
                except queue.Empty:
                    break
            batch = [row_id for row_id, _ in items]
            contexts = {id(captured): captured for _, captured in items}
            try:
                if time.monotonic() < self._paused_until:
                    continue  # the sweeper will process them
                if len(contexts) == 1:
                    items[0][1].run(self.publish, batch)
                else:
                    self.publish(batch)
            except Exception as exc:  # any broker error: the rows are stored, nothing is lost
                self._paused_until = time.monotonic() + BACKOFF
                logger.warning(
                    "dispatch_enqueue_failed", publisher=self.name, rows=len(batch), error=type(exc).__name__
                )
            finally:
                for _ in batch:
                    ids.task_done()
