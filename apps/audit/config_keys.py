"""Configuration keys of the audit log (risk thresholds, anchoring, retention lives in apps.configuration.keys)."""

from __future__ import annotations

from apps.configuration.registry import declare

declare(
    "audit.offhours_start",
    "int",
    22,
    "Local hour (0-23) from which activity counts as off-hours.",
    min_value=0,
    max_value=23,
)
declare("audit.offhours_end", "int", 7, "Local hour (0-23) at which off-hours end.", min_value=0, max_value=23)
declare(
    "audit.failed_logins_alert",
    "int",
    5,
    "Failed logins in an hour, per user or per address, that raise an alert.",
    min_value=2,
    max_value=1000,
)
declare("audit.large_export_rows", "int", 10000, "Rows in one export that make it a large export (alert).", min_value=1)
declare(
    "audit.large_export_bytes",
    "int",
    100 * 1024 * 1024,
    "Bytes in one export that make it a large export.",
    min_value=1,
)
declare(
    "audit.anchor_sink",
    "str",
    "file",
    "Where the daily anchor of the chain head goes: file or s3.",
    choices=("file", "s3"),
)
declare(
    "audit.anchor_file",
    "str",
    "audit-anchors.jsonl",
    "Anchor file (JSON lines); a relative path is under PORTAL_VAR_DIR.",
)
declare("audit.anchor_s3_bucket", "str", "", "S3 bucket (with Object Lock enabled) for anchors.")
declare("audit.anchor_s3_prefix", "str", "audit-anchors/", "Key prefix of anchor objects.")
declare(
    "audit.anchor_retention_days", "int", 2555, "Object Lock retention of each anchor object, in days.", min_value=1
)
declare("aws.region", "str", "eu-west-1", "AWS region of the portal's buckets and EMR.")
declare("aws.endpoint_url", "str", "", "Override of the AWS endpoint (a local S3-compatible server); empty for AWS.")
