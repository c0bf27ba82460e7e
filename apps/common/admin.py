"""Admin for users and API tokens. Tokens are issued with ``manage.py issue_token`` or the API, never typed in."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.audit.access import AuditedReadAdminMixin
from apps.common.errors import DomainError
from apps.common.models import ApiToken, User
from apps.common.services import api_token_revoke


@admin.register(User)
class UserAdmin(AuditedReadAdminMixin, DjangoUserAdmin):
    """Users with their roles (groups), time zone and service-account flag; showing them is a recorded read."""

    personal_fields = ("email", "first_name", "last_name", "display_name")

    list_display = ("username", "display_name", "email", "is_active", "is_staff", "is_service_account", "roles")
    list_filter = ("is_active", "is_staff", "is_superuser", "is_service_account", "groups")
    search_fields = ("username", "display_name", "email")
    readonly_fields = ("public_id", "last_login", "date_joined")
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        ("Portal", {"fields": ("public_id", "display_name", "time_zone", "is_service_account")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Roles")
    def roles(self, obj: User) -> str:
        return ", ".join(obj.role_names)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    """Token metadata, read-only; the only change is revocation."""

    list_display = ("prefix", "name", "user", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at", "expires_at")
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    actions = ("revoke_selected",)
    readonly_fields = (
        "public_id",
        "user",
        "name",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
        "revoked_by",
    )
    exclude = ("digest",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            try:
                api_token_revoke(token=token, actor=request.user)  # type: ignore[arg-type]
            except DomainError as exc:
                self.message_user(request, f"{token}: {exc.detail}", messages.WARNING)
            else:
                revoked += 1
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
