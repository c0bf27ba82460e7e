"""Publishing "process this payload" to the broker off the request path.

The intake endpoint stores the payload and answers; a daemon thread per process publishes the Celery task. If the
broker is down, or the process dies before publishing, nothing is lost: the payload row stays pending and the beat
sweeper processes it. After a publish failure the thread waits a little before trying the next one.
"""

from __future__ import annotations

import os
import queue
import threading
import time

import structlog

logger = structlog.get_logger(__name__)

BACKOFF = 5.0  # seconds without publishing after the broker refused one (the sweeper catches up)
MAX_BACKLOG = 10_000  # ids waiting to be published; beyond that the sweeper takes over

_queue: queue.Queue[int] = queue.Queue(maxsize=MAX_BACKLOG)
_lock = threading.Lock()
_owner_pid = 0
_paused_until = 0.0


def dispatch(payload_id: int) -> None:
    """Ask for the payload to be processed soon; never blocks and never raises."""
    _ensure_thread()
    try:
        _queue.put_nowait(payload_id)
    except queue.Full:
        logger.warning("alert_dispatch_backlog_full", payload_id=payload_id)


def _ensure_thread() -> None:
    global _owner_pid, _queue
    if _owner_pid == os.getpid():
        return
    with _lock:
        if _owner_pid == os.getpid():
            return
        _queue = queue.Queue(maxsize=MAX_BACKLOG)  # a forked child must not share its parent's queue
        threading.Thread(target=_publish_forever, args=(_queue,), name="alert-dispatch", daemon=True).start()
        _owner_pid = os.getpid()


def _publish_forever(ids: queue.Queue[int]) -> None:
    global _paused_until
    from apps.incidents.tasks import process_payload

    while True:
        payload_id = ids.get()
        try:
            if time.monotonic() < _paused_until:
                continue  # the sweeper will process it
            process_payload.apply_async(args=[payload_id], retry=False)
        except Exception as exc:  # any broker error: the payload is stored, nothing is lost
            _paused_until = time.monotonic() + BACKOFF
            logger.warning("alert_enqueue_failed", payload_id=payload_id, error=type(exc).__name__)
        finally:
            ids.task_done()


def resume() -> None:
    """Publish again at once (after the broker is known to be back)."""
    global _paused_until
    _paused_until = 0.0


def drain(timeout: float = 5.0) -> bool:
    """Wait until everything queued in this process was handed to the broker (tests, shutdown)."""
    deadline = time.monotonic() + timeout
    while _queue.unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.01)
    return not _queue.unfinished_tasks
