"""Signed, expiring approval links: a link names one attempt, one approver and one decision, so it can be sent in a
page or a chat message and used from a phone without signing in. Opening it (GET) only shows a confirmation page;
the decision is taken by the POST of that page, once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.core import signing
from django.urls import reverse

from apps.common.models import User
from apps.configuration.services import config_get
from apps.incidents.models import RemediationAttempt

SALT = "incidents.remediation.approval-link"
DECISIONS = ("approve", "deny")


class ApprovalLinkInvalid(Exception):
    """The link was altered, was made for something else, or is not a link at all."""


class ApprovalLinkExpired(ApprovalLinkInvalid):
    """The link was genuine but its time is up."""


@dataclass(frozen=True)
class ApprovalClaim:
    """What a genuine link says: which attempt, who decides, and what."""

    attempt: uuid.UUID
    user: uuid.UUID
    decision: str


def approval_link_make(*, attempt: RemediationAttempt, user: User, decision: str = "approve") -> str:
    """The path of a link by which ``user`` takes ``decision`` on ``attempt``, valid for the configured minutes."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}")
    token = signing.TimestampSigner(salt=SALT).sign_object(
        {"a": str(attempt.public_id), "u": str(user.public_id), "d": decision}
    )
    return reverse("remediation:approval-link", kwargs={"token": token})


def approval_link_read(token: str) -> ApprovalClaim:
    """The claim of a genuine, unexpired link; ApprovalLinkExpired or ApprovalLinkInvalid otherwise."""
    ttl = int(config_get("remediation.approval_link_ttl_minutes")) * 60
    signer = signing.TimestampSigner(salt=SALT)
    try:
        payload = signer.unsign_object(token, max_age=ttl)
    except signing.SignatureExpired:
        raise ApprovalLinkExpired("the link has expired") from None
    except (signing.BadSignature, ValueError):
        raise ApprovalLinkInvalid("the link is not valid") from None
    try:
        claim = ApprovalClaim(uuid.UUID(payload["a"]), uuid.UUID(payload["u"]), str(payload["d"]))
    except (KeyError, TypeError, ValueError):
        raise ApprovalLinkInvalid("the link is not valid") from None
    if claim.decision not in DECISIONS:
        raise ApprovalLinkInvalid("the link is not valid")
    return claim
