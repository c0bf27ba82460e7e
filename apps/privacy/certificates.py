"""Erasure certificates: the signed proof that a request's erasure (or rectification) ran and what it changed.

The certified document is canonical JSON (sorted keys, no insignificant spaces, UTF-8): the certificate number, the
request (reference, right, regime, received and verified times), the subject's public id, the job run, and per dataset
the action, the rows matched, deleted, anonymised or updated, every replaced file with its SHA-256 before and after,
the untouched file count, and the verification scan (rows still matching the subject's raw identity values or their
keyed hashes). It holds no identity value. The portal signs the document's bytes with Ed25519 under
``secrets.certificate_signing_key``; anyone holding the public key printed on the certificate can check it
(``certificate_verify``, or any Ed25519 library: the signature is over the exact ``document`` text).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.db import transaction
from django.utils import timezone

from apps.configuration.services import config_get
from apps.privacy.models import ErasureCertificate, RequestEvent, RequestRun

ISSUER = "ECAP Governance Portal"
FORMAT_VERSION = 1
DATASET_COUNTS = ("rows_deleted", "rows_anonymised", "rows_updated", "rows_already_anonymised", "rows_already_updated")


def signing_key() -> Ed25519PrivateKey:
    seed = base64.urlsafe_b64decode(str(config_get("secrets.certificate_signing_key")).encode())
    return Ed25519PrivateKey.from_private_bytes(seed[:32])


def public_key_bytes(key: Ed25519PublicKey | None = None) -> bytes:
    return (key or signing_key().public_key()).public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_b64() -> str:
    """The public key that verifies certificates signed now (raw 32 bytes, base64)."""
    return base64.b64encode(public_key_bytes()).decode()


def key_id(raw_public_key: bytes) -> str:
    return hashlib.sha256(raw_public_key).hexdigest()


def canonical(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _dataset(name: str, done: dict[str, Any], verification: dict[str, Any]) -> dict[str, Any]:
    entry = {
        "dataset": name,
        "action": done.get("action"),
        "rows_matched": sum((done.get("rows_matched") or {}).values()),
        "files_rewritten": [
            {
                "path": f.get("file"),
                "rows": f.get("rows"),
                "sha256_before": f.get("sha256_before"),
                "sha256_after": f.get("sha256_after"),
            }
            for f in done.get("files_rewritten") or []
        ],
        "files_untouched": done.get("files_untouched"),
        "started_at": done.get("started_at"),
        "finished_at": done.get("finished_at"),
        "verification": verification,
    }
    entry.update({k: done[k] for k in DATASET_COUNTS if k in done})
    return entry


def certificate_document(run: RequestRun, number: str, issued_at: str) -> dict[str, Any]:
    """What the certificate states, from the run's job summary."""
    request, summary = run.request, run.summary or {}
    verification = summary.get("verification") or {}
    verified_event = request.timeline.filter(kind="status", data__status="verified").order_by("at").first()
    datasets = summary.get("datasets") or {}
    return {
        "format_version": FORMAT_VERSION,
        "certificate": number,
        "issuer": ISSUER,
        "issued_at": issued_at,
        "request": {
            "reference": request.reference,
            "id": str(request.public_id),
            "type": request.request_type,
            "regime": request.regime,
            "received_at": request.received_at.isoformat(),
            "verified_at": verified_event.at.isoformat() if verified_event else None,
        },
        "subject": str(request.subject.public_id),
        "run": {
            "id": str(run.public_id),
            "kind": run.kind,
            "spark_run": str(run.spark_run.run_id) if run.spark_run else None,
            "lake": summary.get("lake"),
            "started_at": summary.get("started_at"),
            "finished_at": summary.get("finished_at"),
        },
        "datasets": [_dataset(name, datasets[name], verification.get(name) or {}) for name in sorted(datasets)],
        "excluded": [
            {"dataset": i["dataset"], "namespace": i.get("namespace"), "reason": i.get("reason")}
            for i in (request.plan.items if hasattr(request, "plan") else [])
            if i.get("action") == "excluded"
        ],
        "totals": summary.get("totals") or {},
        "verified": bool(summary.get("verified")),
    }


def certificate_issue(*, run: RequestRun) -> ErasureCertificate:
    """Sign and store the certificate of a succeeded erasure or rectification run (once per run)."""
    existing = ErasureCertificate.objects.filter(run=run).first()
    if existing is not None:
        return existing
    key = signing_key()
    issued = timezone.now()
    with transaction.atomic():
        count = ErasureCertificate.objects.select_for_update().filter(issued_at__year=issued.year).count()
        number = f"CERT-{issued.year}-{count + 1:06d}-{run.public_id.hex[:6].upper()}"
        text = canonical(certificate_document(run, number, issued.isoformat()))
        certificate = ErasureCertificate.objects.create(
            request=run.request,
            run=run,
            number=number,
            issued_at=issued,
            document=text,
            sha256=hashlib.sha256(text.encode()).hexdigest(),
            signature=base64.b64encode(key.sign(text.encode())).decode(),
            key_id=key_id(public_key_bytes(key.public_key())),
        )
        RequestEvent.objects.create(
            request=run.request,
            kind="certificate",
            message=f"Certificate {number} issued and signed.",
            data={"certificate": str(certificate.public_id), "sha256": certificate.sha256},
        )
    return certificate


def certificate_verify(certificate: ErasureCertificate, public_key: bytes | None = None) -> bool:
    """True when the signature matches the stored document under the given (default: current) public key."""
    raw = public_key or public_key_bytes()
    if key_id(raw) != certificate.key_id:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(
            base64.b64decode(certificate.signature), certificate.document.encode()
        )
    except (InvalidSignature, ValueError):
        return False
    return hashlib.sha256(certificate.document.encode()).hexdigest() == certificate.sha256


def certificate_export(certificate: ErasureCertificate) -> dict[str, Any]:
    """The certificate as one self-contained JSON object: the document text, its signature and the public key."""
    return {
        "document": certificate.document,
        "signature": certificate.signature,
        "algorithm": "Ed25519",
        "public_key": public_key_b64(),
        "key_id": certificate.key_id,
        "sha256": certificate.sha256,
    }
