"""Publishing "process these events" to the broker off the request path (see ``apps.common.dispatch``): the ids
waiting at that moment go into one ``lineage.process_events`` task (up to ``BATCH``), so a busy intake costs the
broker one message per batch rather than per event; the beat sweeper processes what was never published."""

from __future__ import annotations

from apps.common.dispatch import Publisher

BATCH = 200  # ids per task


def _publish(event_ids: list[int]) -> None:
    from apps.lineage.tasks import process_events

    process_events.apply_async(args=[event_ids], retry=False)


_publisher = Publisher("lineage", _publish, batch=BATCH, max_backlog=50_000)
dispatch = _publisher.dispatch
resume = _publisher.resume
drain = _publisher.drain
