"""Signed, expiring acknowledge and resolve links carried by every page.

A link names one incident, one action and one responder, signed with the portal's secret key under a salt per
action, so it can be used from a phone without signing in. The signed value is compact (the two UUIDs as 22
base64 characters each) so that a link fits in an SMS. Opening it (GET) only shows a confirmation page; the action
is taken by that page's POST. Tokens are never stored or logged.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass

from django.core import signing
from django.urls import reverse

from apps.configuration.services import config_get

ACK, RESOLVE = "ack", "resolve"
ACTIONS = {ACK: "a", RESOLVE: "r"}
_BY_MARK = {mark: action for action, mark in ACTIONS.items()}
SALT = "oncall.link.{action}"


class LinkInvalid(Exception):
    """The link was altered, cut short, or made for another action."""


class LinkExpired(LinkInvalid):
    """The link was genuine but its time is up."""


@dataclass(frozen=True)
class LinkClaim:
    """What a genuine link says: which incident, which action, who acts."""

    incident: uuid.UUID
    action: str
    user: uuid.UUID


def _b64(value: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(value.bytes).decode().rstrip("=")


def _unb64(text: str) -> uuid.UUID:
    return uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=="))


def _signer(action: str) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT.format(action=action))


def link_token(*, incident_public_id: uuid.UUID, action: str, user_public_id: uuid.UUID) -> str:
    """A token by which the user takes ``action`` (ack or resolve) on the incident."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    value = ACTIONS[action] + _b64(incident_public_id) + _b64(user_public_id)
    return _signer(action).sign(value)


def link_path(*, incident_public_id: uuid.UUID, action: str, user_public_id: uuid.UUID) -> str:
    """The path (``/oncall/l/<token>/``) of a link; prefix it with ``incidents.public_base_url``."""
    token = link_token(incident_public_id=incident_public_id, action=action, user_public_id=user_public_id)
    return reverse("oncall:link", kwargs={"token": token})


def link_read(token: str) -> LinkClaim:
    """The claim of a genuine link that has not expired; LinkExpired or LinkInvalid otherwise."""
    mark = token[:1]
    action = _BY_MARK.get(mark)
    if action is None or len(token) > 200:
        raise LinkInvalid("the link is not valid")
    ttl = int(config_get("oncall.link_ttl_minutes")) * 60
    try:
        value = _signer(action).unsign(token, max_age=ttl)
    except signing.SignatureExpired:
        raise LinkExpired("the link has expired") from None
    except signing.BadSignature:
        raise LinkInvalid("the link is not valid") from None
    if len(value) != 45:
        raise LinkInvalid("the link is not valid")
    try:
        return LinkClaim(incident=_unb64(value[1:23]), action=action, user=_unb64(value[23:45]))
    except (ValueError, binascii.Error):
        raise LinkInvalid("the link is not valid") from None
