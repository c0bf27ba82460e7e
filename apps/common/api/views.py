"""Identity API: the calling user, and personal API tokens (list, create, revoke)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet, prefetch_related_objects
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from apps.audit.access import record_api_read
from apps.common.api.filters import ApiTokenFilter
from apps.common.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    UserSerializer,
)
from apps.common.models import ApiToken, User
from apps.common.selectors import api_token_list
from apps.common.services import api_token_create, api_token_revoke


def request_user(request: Request) -> User:
    """The authenticated user of an API request (permission classes guarantee there is one)."""
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - IsAuthenticated ran before any view code
    return user


class ApiRootView(APIView):
    """Index of the API: one entry per mounted app, pointing at that app's resource list."""

    mounted: tuple[str, ...] = ()

    @extend_schema(responses=dict[str, str])
    def get(self, request: Request) -> Response:
        return Response({label: reverse(f"api:{label}:api-root", request=request) for label in self.mounted})


class MeView(APIView):
    """The calling user."""

    @extend_schema(responses=UserSerializer)
    def get(self, request: Request) -> Response:
        user = request_user(request)
        prefetch_related_objects([user], "groups")
        record_api_read(
            request,
            target=user,
            fields=["username", "display_name", "email", "time_zone"],
            rows=1,
            default_purpose="self-service",
        )
        return Response(UserSerializer(user).data)


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[ApiToken]):
    """Personal API tokens. Creating one shows the token once; revoking is immediate."""

    queryset = ApiToken.objects.none()  # the real one comes from get_queryset(); this types the schema
    serializer_class = ApiTokenSerializer
    filterset_class = ApiTokenFilter
    ordering_fields = ("created_at", "expires_at", "last_used_at", "name")
    lookup_field = "public_id"
    lookup_url_kwarg = "id"

    def get_queryset(self) -> QuerySet[ApiToken]:
        return api_token_list(user=request_user(self.request))

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, raw = api_token_create(user=request_user(request), **serializer.validated_data)
        token.token = raw  # type: ignore[attr-defined]
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ApiTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, id: str) -> Response:
        token = api_token_revoke(token=self.get_object(), actor=request_user(request))
        return Response(ApiTokenSerializer(token).data)
