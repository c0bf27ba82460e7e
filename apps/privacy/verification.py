"""Identity verification of data-subject requests: a signed, expiring link e-mailed to the subject's address, or a
staff member's manual verification with an evidence note. Only verified requests are executed.

Opening the link (GET) shows a confirmation page; the POST of that page verifies, so a mail scanner that follows
links verifies nothing. The link names the request only; its signature (Django's signing with the portal's secret
key) and age (``privacy.verification_link_hours``) are the credential. The token is never stored or logged.
"""

from __future__ import annotations

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from apps.common.errors import Conflict, DomainError
from apps.common.models import User
from apps.configuration.services import config_get
from apps.privacy.choices import IdentityKind, RequestStatus
from apps.privacy.links import LinkExpired, LinkInvalid, link_read, link_token
from apps.privacy.models import DataSubjectRequest, RequestEvent
from apps.privacy.requests import RequestInvalid, request_transition

logger = structlog.get_logger(__name__)

SALT = "privacy.dsr.verification-link"


class VerificationLinkInvalid(DomainError):
    code = "verification_link_invalid"


class VerificationLinkExpired(VerificationLinkInvalid):
    code = "verification_link_expired"
    status = 410


def verification_path(request: DataSubjectRequest) -> str:
    """The path of the request's verification link (signed now; valid for the configured hours)."""
    token = link_token(salt=SALT, public_id=request.public_id)
    return reverse("privacy:verify", kwargs={"token": token})


def verification_read(token: str) -> DataSubjectRequest:
    """The request a genuine, unexpired link names; VerificationLinkExpired or VerificationLinkInvalid otherwise."""
    max_age = int(config_get("privacy.verification_link_hours")) * 3600
    try:
        public_id = link_read(salt=SALT, token=token, max_age_seconds=max_age)
    except LinkExpired:
        raise VerificationLinkExpired("The link has expired.") from None
    except LinkInvalid:
        raise VerificationLinkInvalid("The link is not valid.") from None
    request = DataSubjectRequest.objects.filter(public_id=public_id).first()
    if request is None:
        raise VerificationLinkInvalid("The link is not valid.")
    return request


def verification_link_send(*, request: DataSubjectRequest, actor: User | None, base_url: str) -> DataSubjectRequest:
    """E-mail the subject a verification link and mark the request identity-pending."""
    email = request.subject.identities.filter(kind=IdentityKind.EMAIL).first()
    if email is None:
        raise RequestInvalid(
            "The subject has no e-mail address to send a link to; verify manually.", fields={"subject": ["no e-mail"]}
        )
    if request.status not in (RequestStatus.RECEIVED, RequestStatus.IDENTITY_PENDING):
        raise Conflict("Only a request waiting for verification can be sent a link.", code="not_awaiting_verification")
    link = base_url.rstrip("/") + verification_path(request)
    hours = int(config_get("privacy.verification_link_hours"))
    with transaction.atomic():
        if request.status == RequestStatus.RECEIVED:
            request = request_transition(request=request, status=RequestStatus.IDENTITY_PENDING, actor=actor)
        RequestEvent.objects.create(
            request=request,
            kind="verification_sent",
            message=f"Verification link e-mailed, valid {hours} h.",
            actor=actor,
        )
        reference, address = request.reference, email.value
        transaction.on_commit(lambda: _mail(reference, address, link, hours))
    return request


def _mail(reference: str, address: str, link: str, hours: int) -> None:
    try:
        send_mail(
            subject=f"Please confirm your request {reference}",
            message=(
                f"We received a request about your personal data ({reference}). To confirm it was you, open this "
                f"link within {hours} hours and press Confirm:\n\n{link}\n\nIf you did not ask, ignore this message."
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[address],
        )
    except Exception as exc:  # the request is stored; staff can send the link again or verify manually
        logger.warning("privacy.verification_mail_failed", request=reference, error=type(exc).__name__)


def verification_confirm(*, token: str) -> DataSubjectRequest:
    """Verify the request a genuine link names (once; a second use changes nothing)."""
    request = verification_read(token)
    if request.status != RequestStatus.IDENTITY_PENDING:
        return request
    return request_transition(
        request=request, status=RequestStatus.VERIFIED, actor=None, note="Identity verified by the e-mailed link."
    )


def request_verify_manually(*, request: DataSubjectRequest, actor: User, evidence: str) -> DataSubjectRequest:
    """Verify a request by hand, with the evidence seen (e.g. "matched order number and postcode by phone")."""
    if not evidence.strip():
        raise RequestInvalid("Manual verification needs the evidence seen.", fields={"evidence": ["required"]})
    with transaction.atomic():
        if request.status == RequestStatus.RECEIVED:
            request = request_transition(request=request, status=RequestStatus.IDENTITY_PENDING, actor=actor)
        return request_transition(
            request=request,
            status=RequestStatus.VERIFIED,
            actor=actor,
            note=f"Identity verified by hand: {evidence.strip()[:2000]}",
        )
