"""The secret iCal feeds: ``GET /oncall/feeds/schedule/<token>.ics`` and ``GET /oncall/feeds/user/<token>.ics``.

Calendar clients cannot sign in, so the token in the URL is the credential: these views need no login, find the
feed through the token's unique index (an unknown or rotated token is a plain 404), and never log the token. Log
lines mask the token (``apps.common.logging`` scrubs credential paths), and the 404s are not handed to Django's
"Not Found: <path>" warning.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from apps.common.link_pages import credential_url_headers
from apps.oncall.calendar import schedule_feed, user_feed
from apps.oncall.models import Schedule, UserFeed

CONTENT_TYPE = "text/calendar; charset=utf-8"


def _headers(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    return credential_url_headers(response)


def _not_found() -> HttpResponse:
    response = HttpResponse("No such calendar feed.\n", status=404, content_type="text/plain; charset=utf-8")
    response._has_been_logged = True  # type: ignore[attr-defined]  # Django would log the path, token included
    return _headers(response)


def _calendar(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=CONTENT_TYPE)
    response["Content-Disposition"] = f'inline; filename="{filename}.ics"'
    return _headers(response)


@login_not_required
@require_safe
def schedule_feed_view(request: HttpRequest, token: str) -> HttpResponse:
    """The iCal feed of one schedule's shifts."""
    schedule = Schedule.objects.filter(feed_token=token).first()
    if schedule is None:
        return _not_found()
    return _calendar(schedule_feed(schedule), "oncall-schedule")


@login_not_required
@require_safe
def user_feed_view(request: HttpRequest, token: str) -> HttpResponse:
    """The iCal feed of one user's shifts in every schedule."""
    feed = UserFeed.objects.select_related("user").filter(token=token).first()
    if feed is None or not feed.user.is_active:
        return _not_found()
    return _calendar(user_feed(feed.user), "oncall-shifts")
