"""Notification channels: e-mail through Django's e-mail backend, Slack incoming webhooks, generic webhooks signed
with HMAC-SHA256, and SMS through a configurable HTTP gateway.

Channels only carry a rendered ``Message`` to an address; what a page says is decided in ``notify.py``. A failure is
a ``ChannelError`` whose ``reason`` is safe to store and log: it never contains the address, the webhook URL, the
signing secret or the gateway token (library error texts often quote the URL, so they are never copied in).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives

from apps.configuration.services import config_get, secret_get
from apps.oncall.choices import ContactKind

SMS_LENGTH = 160
SIGNATURE_HEADER = "X-ECAP-Signature"
TIMESTAMP_HEADER = "X-ECAP-Timestamp"


class ChannelError(Exception):
    """A message that was not delivered. ``retryable``: the same message may succeed later (timeouts, 5xx, 429)."""

    def __init__(self, reason: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True)
class Message:
    """One message in every rendering a channel may need."""

    subject: str
    text: str
    short: str
    data: dict[str, Any]
    html: str = ""
    slack_blocks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Sent:
    """A delivered message: the HTTP status the endpoint answered (None for e-mail)."""

    status: int | None = None


def signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-ECAP-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of ``timestamp + "." + body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def channel_send(*, kind: str, address: str, secret: str, message: Message, idempotency_key: str) -> Sent:
    """Deliver ``message`` to ``address`` by ``kind``; ChannelError when it could not be delivered."""
    if kind == ContactKind.EMAIL:
        return _email(address, message)
    if kind == ContactKind.SLACK:
        body = (
            {"text": message.text, "blocks": message.slack_blocks} if message.slack_blocks else {"text": message.text}
        )
        return _post(_http_url(address), _json(body), {})
    if kind == ContactKind.WEBHOOK:
        return _webhook(address, secret, message, idempotency_key)
    if kind == ContactKind.SMS:
        return _sms(address, message)
    raise ChannelError(f"unknown contact kind {kind!r}", retryable=False)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str).encode()


def _email(address: str, message: Message) -> Sent:
    mail = EmailMultiAlternatives(
        subject=message.subject, body=message.text, from_email=settings.DEFAULT_FROM_EMAIL, to=[address]
    )
    if message.html:
        mail.attach_alternative(message.html, "text/html")
    try:
        mail.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused:
        raise ChannelError("the mail server refused the recipient", retryable=False) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise ChannelError(f"the mail server failed ({type(exc).__name__})", retryable=True) from None
    return Sent()


def _webhook(address: str, secret: str, message: Message, idempotency_key: str) -> Sent:
    if not secret:
        raise ChannelError("the webhook contact method has no signing secret", retryable=False)
    body = _json(message.data)
    timestamp = str(int(time.time()))
    headers = {
        SIGNATURE_HEADER: signature(secret=secret, timestamp=timestamp, body=body),
        TIMESTAMP_HEADER: timestamp,
        "Idempotency-Key": idempotency_key,
    }
    return _post(_http_url(address), body, headers)


def _sms(address: str, message: Message) -> Sent:
    url = str(config_get("oncall.sms_gateway_url"))
    if not url:
        raise ChannelError("SMS is disabled: oncall.sms_gateway_url is empty", retryable=False)
    try:
        token = str(secret_get("secrets.sms_gateway_token"))
    except ImproperlyConfigured:
        raise ChannelError("the SMS gateway token (secrets.sms_gateway_token) is not set", retryable=False) from None
    body = _json({"to": address, "message": message.short[:SMS_LENGTH]})
    return _post(_http_url(url, what="oncall.sms_gateway_url"), body, {"Authorization": f"Bearer {token}"})


def _http_url(url: str, *, what: str = "the contact method's address") -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChannelError(f"{what} is not an http(s) URL", retryable=False)
    return url.strip()


_sessions = threading.local()


def _session() -> requests.Session:
    """One keep-alive session per thread and process (a forked worker must not share its parent's sockets)."""
    session = getattr(_sessions, "session", None)
    if session is None or getattr(_sessions, "pid", None) != os.getpid():
        session = requests.Session()
        _sessions.session, _sessions.pid = session, os.getpid()
    return session


def _post(url: str, body: bytes, headers: dict[str, str]) -> Sent:
    timeout = float(config_get("oncall.http_timeout_seconds"))
    try:
        response = _session().post(
            url,
            data=body,
            headers={"Content-Type": "application/json", "User-Agent": "ecap-oncall", **headers},
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.Timeout:
        raise ChannelError(f"no answer within {timeout:g} s", retryable=True) from None
    except requests.RequestException as exc:
        raise ChannelError(f"connection failed ({type(exc).__name__})", retryable=True) from None
    status = response.status_code
    _ = response.content  # read to the end, so the connection goes back to the pool
    if 200 <= status < 300:
        return Sent(status)
    if status == 429 or status >= 500:
        raise ChannelError(f"the endpoint answered HTTP {status}", retryable=True, status=status)
    raise ChannelError(f"the endpoint refused the message with HTTP {status}", retryable=False, status=status)
