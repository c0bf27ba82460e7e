"""Anchors: the chain head written outside the database, so truncating the tail (or rewriting history) shows.

Sinks: a local JSON-lines file, or one S3 object per anchor with Object Lock retention (compliance mode), written
through boto3. Verification reads the anchors back from the sink, never from the database.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from django.conf import settings
from django.utils import timezone

from apps.audit.models import AuditAnchor, AuditChainHead
from apps.configuration.services import config_get

logger = structlog.get_logger(__name__)


def _anchor_file() -> Path:
    path = Path(config_get("audit.anchor_file"))
    return path if path.is_absolute() else Path(settings.VAR_DIR) / path


def s3_client() -> Any:
    """A boto3 S3 client for the configured region (and endpoint, for S3-compatible servers)."""
    import boto3

    endpoint = config_get("aws.endpoint_url") or None
    return boto3.client("s3", region_name=config_get("aws.region"), endpoint_url=endpoint)


def anchor_write() -> AuditAnchor | None:
    """Write the current chain head to the configured sink; None when the chain is still empty."""
    from apps.audit.services import audit_seal_pending

    audit_seal_pending()
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None or head.seq == 0:
        return None
    now = timezone.now()
    record = {"seq": head.seq, "hash": head.hash, "at": now.isoformat(), "environment": settings.PORTAL_ENVIRONMENT}
    sink = config_get("audit.anchor_sink")
    if sink == "s3":
        bucket = config_get("audit.anchor_s3_bucket")
        if not bucket:
            raise ValueError("audit.anchor_sink is s3 but audit.anchor_s3_bucket is not set")
        key = f"{config_get('audit.anchor_s3_prefix')}{now:%Y/%m/%d}/{head.seq:012d}.json"
        s3_client().put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(record, sort_keys=True).encode(),
            ContentType="application/json",
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=now + timedelta(days=config_get("audit.anchor_retention_days")),
        )
        location = f"s3://{bucket}/{key}"
    else:
        path = _anchor_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
        location = str(path)
    anchor = AuditAnchor.objects.create(seq=head.seq, hash=head.hash, sink=sink, location=location)
    logger.info("audit_anchor_written", seq=head.seq, location=location)
    return anchor


def anchors_read() -> list[dict[str, Any]]:
    """Every anchor in the configured sink (what verification trusts), oldest first."""
    sink = config_get("audit.anchor_sink")
    if sink == "s3":
        bucket, prefix = config_get("audit.anchor_s3_bucket"), config_get("audit.anchor_s3_prefix")
        if not bucket:
            return []
        client = s3_client()
        found = []
        # Every version, not just the current objects: a delete marker must never hide a locked anchor.
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
            for version in page.get("Versions", []):
                obj = client.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
                found.append(json.loads(obj["Body"].read()))
        return sorted(found, key=lambda a: a["seq"])
    path = _anchor_file()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
