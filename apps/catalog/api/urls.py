"""Catalog API under /api/v1/catalog/."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

from apps.catalog.api import views

app_name = "catalog"

router = DefaultRouter()
router.register("datasets", views.DatasetViewSet, basename="dataset")
router.register("fields", views.FieldViewSet, basename="field")
router.register("schema-versions", views.SchemaVersionViewSet, basename="schema-version")
router.register("glossary-terms", views.GlossaryTermViewSet, basename="glossary-term")
router.register("data-categories", views.DataCategoryViewSet, basename="data-category")
router.register("data-uses", views.DataUseViewSet, basename="data-use")
router.register("data-subjects", views.DataSubjectViewSet, basename="data-subject")
router.register("retention-policies", views.RetentionPolicyViewSet, basename="retention-policy")
router.register("suggestions", views.PiiSuggestionViewSet, basename="suggestion")

urlpatterns = router.urls
