"""URLs of the on-call feed views (mounted at ``/oncall/feeds/``; names ``oncall:feed-schedule`` and
``oncall:feed-user``). They answer without login: the token is the credential."""

from __future__ import annotations

from django.urls import URLPattern, re_path

from apps.oncall import feed_views

TOKEN = r"(?P<token>[A-Za-z0-9_\-]{1,64})"  # noqa: S105 - the URL pattern of a token, not a secret

urlpatterns: list[URLPattern] = [
    re_path(rf"^schedule/{TOKEN}\.ics$", feed_views.schedule_feed_view, name="feed-schedule"),
    re_path(rf"^user/{TOKEN}\.ics$", feed_views.user_feed_view, name="feed-user"),
]
