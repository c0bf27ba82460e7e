"""URLs of the signed acknowledge/resolve links (mounted at ``/oncall/l/``; name ``oncall:link``). They answer
without login: the signature names the responder."""

from __future__ import annotations

from django.urls import URLPattern, re_path

from apps.oncall import link_views

TOKEN = r"(?P<token>[A-Za-z0-9_\-:]{1,200})"  # noqa: S105 - the URL pattern of a token, not a secret

urlpatterns: list[URLPattern] = [
    re_path(rf"^{TOKEN}/$", link_views.incident_link, name="link"),
]
