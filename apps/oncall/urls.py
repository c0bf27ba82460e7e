"""Web URLs of the on-call app: the on-call pages, the secret iCal feeds and the signed acknowledge/resolve links."""

from __future__ import annotations

from django.urls import include, path

from apps.oncall import views

app_name = "oncall"

urlpatterns = [
    path("feeds/", include("apps.oncall.feed_urls")),
    path("l/", include("apps.oncall.link_urls")),
    path("", views.overview, name="overview"),
    path("me/shifts/", views.shifts_mine, name="my-shifts"),
    path("me/incidents/", views.incidents_mine, name="my-incidents"),
    path("me/incidents/<uuid:public_id>/<slug:action>/", views.incident_action, name="incident-action"),
    path("incidents/<uuid:public_id>/", views.incident_detail, name="incident"),
    path("incidents/<uuid:public_id>/<slug:action>/", views.incident_detail_action, name="incident-page-action"),
    path("me/contact/", views.contact, name="contact"),
    path("me/contact/methods/", views.contact_add, name="contact-add"),
    path("me/contact/test/", views.contact_test, name="contact-test"),
    path("me/contact/methods/<uuid:public_id>/<slug:action>/", views.contact_action, name="contact-action"),
    path("me/contact/rules/", views.rule_add, name="rule-add"),
    path("me/contact/rules/<uuid:public_id>/delete/", views.rule_delete, name="rule-delete"),
    path("schedules/<uuid:public_id>/", views.schedule_week, name="schedule-week"),
    path("schedules/<uuid:public_id>/overrides/new/", views.override_new, name="override-new"),
    path(
        "schedules/<uuid:public_id>/overrides/<uuid:override_id>/delete/",
        views.override_delete,
        name="override-delete",
    ),
]
