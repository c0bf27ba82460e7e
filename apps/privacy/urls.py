"""Privacy pages under /privacy/: the subject's verification link, and the compliance staff's pages."""

from __future__ import annotations

from django.urls import path

from apps.privacy import views

app_name = "privacy"

urlpatterns = [
    path("verify/<str:token>/", views.verify, name="verify"),
    path("", views.queue, name="queue"),
    path("requests/new/", views.request_new, name="request-new"),
    path("requests/<uuid:public_id>/", views.request_detail, name="request-detail"),
    path("requests/<uuid:public_id>/<slug:action>/", views.request_action, name="request-action"),
    path("subjects/lookup/", views.subject_lookup, name="subject-lookup"),
    path("subjects/<uuid:public_id>/", views.subject_detail, name="subject-detail"),
    path("subjects/<uuid:public_id>/restrict/", views.subject_restrict_view, name="subject-restrict"),
    path("reports/metrics/", views.metrics_report, name="metrics"),
    path("certificates/<uuid:public_id>/", views.certificate_detail, name="certificate"),
    path("certificates/<uuid:public_id>/signed.json", views.certificate_json, name="certificate-json"),
    path("packages/<uuid:public_id>/download/", views.package_staff_download, name="package-download"),
    path("package/<str:token>/", views.package_link, name="package-link"),
    path("retention/", views.retention, name="retention"),
]
