"""Celery entry points of the shared kernel."""

from __future__ import annotations

import structlog
from celery import shared_task

from apps.common.services import api_token_purge

logger = structlog.get_logger(__name__)


@shared_task(
    name="common.api_tokens_purge", acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5
)
def api_tokens_purge() -> int:
    """Delete long-dead API tokens (daily)."""
    deleted = api_token_purge()
    logger.info("api_tokens_purged", deleted=deleted)
    return deleted
