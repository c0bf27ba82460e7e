"""Access and portability packages: the ``dsr_export`` job's zip, encrypted at rest, downloadable until it expires.

``package_store`` takes the zip the job left in its private output directory, checks it against the SHA-256 of the
job's summary, encrypts it with the Fernet keyring (so a key rotation keeps old packages readable) into the package
directory (``privacy.package_dir``, mode 0600) and removes the job's output. Downloads decrypt in memory; each one,
by staff or by the subject through the signed e-mailed link, is an audited read of every exported dataset. Expired
packages are purged by ``packages_purge`` (beat): the file goes, the row stays as the record.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from apps.audit.choices import AuditAction
from apps.audit.services import audit_record_read
from apps.common.errors import Conflict, DomainError
from apps.configuration.crypto import keyring
from apps.configuration.services import config_get
from apps.privacy.choices import IdentityKind
from apps.privacy.links import LinkExpired, LinkInvalid, link_read, link_token
from apps.privacy.models import ExportPackage, RequestEvent, RequestRun

logger = structlog.get_logger(__name__)

SALT = "privacy.dsr.package-link"


class PackageUnavailable(DomainError):
    code = "package_unavailable"
    status = 410


class PackageLinkInvalid(DomainError):
    code = "package_link_invalid"
    status = 404


def package_dir() -> Path:
    configured = str(config_get("privacy.package_dir") or "")
    return Path(configured) if configured else settings.VAR_DIR / "dsr-packages"


def package_store(*, run: RequestRun) -> ExportPackage:
    """Encrypt and keep the package of a succeeded export run (once per run)."""
    from apps.privacy.execution import export_out

    existing = ExportPackage.objects.filter(run=run).first()
    if existing is not None:
        return existing
    subject = str(run.request.subject.public_id)
    entry = ((run.summary or {}).get("subjects") or {}).get(subject)
    if not entry:
        raise Conflict("The export summary has no package for this subject.", code="package_missing")
    out = export_out(run)
    data = (out / entry["package"]).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.get("sha256"):
        raise Conflict("The package does not match the export's checksum.", code="package_corrupt")
    directory = package_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"{uuid.uuid4()}.zip.fernet"
    fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as stream:
        stream.write(keyring().encrypt(data))
    package = ExportPackage.objects.create(
        request=run.request,
        run=run,
        path=name,
        sha256=digest,
        size=len(data),
        rows=dict(entry.get("rows") or {}),
        expires_at=timezone.now() + timedelta(hours=int(config_get("privacy.package_hours"))),
    )
    transaction.on_commit(lambda: shutil.rmtree(out, ignore_errors=True))
    return package


def package_bytes(package: ExportPackage) -> bytes:
    """The decrypted zip; PackageUnavailable once it expired or was purged."""
    if package.purged_at is not None or package.expires_at <= timezone.now():
        raise PackageUnavailable("The package has expired.")
    return keyring().decrypt((package_dir() / package.path).read_bytes())


def package_download(*, package: ExportPackage, by: str) -> bytes:
    """The zip for a download, audited as an export of the subject's personal data, and counted."""
    data = package_bytes(package)
    ExportPackage.objects.filter(pk=package.pk).update(downloads=F("downloads") + 1)
    audit_record_read(
        target=package,
        fields_shown=sorted(package.rows),
        purpose=f"data-subject request {package.request.reference}: package downloaded by {by}",
        rows=sum(package.rows.values()),
        action=AuditAction.EXPORT,
    )
    RequestEvent.objects.create(
        request=package.request, kind="package_downloaded", message=f"Package downloaded by {by}.", data={}
    )
    return data


def package_link_path(package: ExportPackage) -> str:
    """The path of the subject's download link (signed; valid until the package expires)."""
    token = link_token(salt=SALT, public_id=package.public_id)
    return reverse("privacy:package-link", kwargs={"token": token})


def package_from_link(token: str) -> ExportPackage:
    max_age = int(config_get("privacy.package_hours")) * 3600
    try:
        public_id = link_read(salt=SALT, token=token, max_age_seconds=max_age)
    except LinkExpired:
        raise PackageUnavailable("The link has expired.") from None
    except LinkInvalid:
        raise PackageLinkInvalid("The link is not valid.") from None
    package = ExportPackage.objects.select_related("request").filter(public_id=public_id).first()
    if package is None:
        raise PackageLinkInvalid("The link is not valid.")
    return package


def package_link_send(*, package: ExportPackage, base_url: str) -> None:
    """E-mail the subject the download link (to the subject's e-mail identity); recorded on the timeline."""
    request = package.request
    identity = request.subject.identities.filter(kind=IdentityKind.EMAIL).first()
    if identity is None:
        raise Conflict("The subject has no e-mail address to send the link to.", code="no_email")
    link = base_url.rstrip("/") + package_link_path(package)
    address, reference, until = identity.value, request.reference, package.expires_at
    transaction.on_commit(
        lambda: send_mail(
            subject=f"Your data from request {reference}",
            message=(
                f"The copy of your personal data you asked for in request {reference} is ready.\n\n"
                f"Download it here until {until:%Y-%m-%d %H:%M} UTC:\n{link}\n"
            ),
            from_email=None,
            recipient_list=[address],
        )
    )
    RequestEvent.objects.create(request=request, kind="package_sent", message="Download link e-mailed to the subject.")


def packages_purge(*, now: object = None) -> int:
    """Remove the files of expired packages (the rows stay as the record); returns how many."""
    moment = now or timezone.now()
    count = 0
    for package in ExportPackage.objects.filter(purged_at__isnull=True, expires_at__lte=moment):
        (package_dir() / package.path).unlink(missing_ok=True)
        ExportPackage.objects.filter(pk=package.pk).update(purged_at=timezone.now())
        count += 1
    return count
