"""Publishing "process this payload" to the broker off the request path (see ``apps.common.dispatch``): one task per
payload, so each delivery is retried on its own; the beat sweeper processes what was never published."""

from __future__ import annotations

from apps.common.dispatch import Publisher


def _publish(payload_ids: list[int]) -> None:
    from apps.incidents.tasks import process_payload

    for payload_id in payload_ids:
        process_payload.apply_async(args=[payload_id], retry=False)


_publisher = Publisher("alert", _publish, batch=1, max_backlog=10_000)
resume = _publisher.resume
drain = _publisher.drain


def dispatch(payload_id: int) -> None:
    """Ask for the payload to be processed soon; never blocks and never raises."""
    _publisher.dispatch([payload_id])
