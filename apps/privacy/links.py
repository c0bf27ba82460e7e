"""Signed, expiring links e-mailed to data subjects (identity verification, package download): the token names one
object by its public id and is signed with the portal's secret key under a salt per kind of link; its age is checked
when it is read. Tokens are never stored or logged."""

from __future__ import annotations

import uuid

from django.core import signing


class LinkExpired(Exception):
    """A genuine link past its age."""


class LinkInvalid(Exception):
    """A forged, damaged or truncated link."""


def link_token(*, salt: str, public_id: uuid.UUID) -> str:
    return signing.TimestampSigner(salt=salt).sign_object({"id": str(public_id)})


def link_read(*, salt: str, token: str, max_age_seconds: int) -> uuid.UUID:
    """The public id a genuine, unexpired token names; LinkExpired or LinkInvalid otherwise."""
    try:
        payload = signing.TimestampSigner(salt=salt).unsign_object(token, max_age=max_age_seconds)
        return uuid.UUID(str(payload["id"]))
    except signing.SignatureExpired:
        raise LinkExpired from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise LinkInvalid from None
