"""Configuration API: every key with its effective value and where it comes from, for administrators only."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.api.pagination import PagePagination
from apps.common.errors import NotFound
from apps.configuration.api.serializers import ConfigEntrySerializer
from apps.configuration.registry import get_key
from apps.configuration.selectors import config_explain, config_explain_all


class IsPortalAdmin(permissions.BasePermission):
    """Superusers and members of the ``admin`` role."""

    message = "Only portal administrators may read the configuration."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (user.is_superuser or user.groups.filter(name="admin").exists()))


class ConfigEntryViewSet(viewsets.ViewSet):
    """Configuration keys (read-only). Secret values are masked; provenance shows every layer."""

    permission_classes = (permissions.IsAuthenticated, IsPortalAdmin)
    # Declared (not only used in ``list``) so the schema documents the paginated envelope and its parameters.
    pagination_class = PagePagination
    lookup_field = "key"
    lookup_value_regex = r"[a-z0-9_.]+"

    @extend_schema(
        responses=ConfigEntrySerializer(many=True),
        parameters=[OpenApiParameter("search", str, description="Only keys containing this text.")],
    )
    def list(self, request: Request) -> Response:
        search = request.query_params.get("search", "")
        entries = [e for e in config_explain_all() if search in e.spec.key]
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(entries, request, view=self) or []
        return paginator.get_paginated_response(ConfigEntrySerializer(page, many=True).data)  # type: ignore[arg-type]

    @extend_schema(responses=ConfigEntrySerializer)
    def retrieve(self, request: Request, key: str) -> Response:
        try:
            get_key(key)
        except KeyError as exc:
            raise NotFound(exc.args[0]) from exc
        return Response(ConfigEntrySerializer(config_explain(key)).data)

    def get_view_name(self) -> str:
        return "Configuration entries"
