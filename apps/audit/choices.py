"""Persisted enums of the audit log."""

from __future__ import annotations

from django.db import models


class AuditAction(models.TextChoices):
    """What happened."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    READ = "read"
    EXPORT = "export"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    TOKEN_CREATE = "token_create"  # noqa: S105 - an action name, not a secret
    TOKEN_REVOKE = "token_revoke"  # noqa: S105 - an action name, not a secret
    PERMISSION_CHANGE = "permission_change"
    CONFIG_CHANGE = "config_change"
    VERIFY = "verify"
    PURGE = "purge"
    APPROVE = "approve"
    DENY = "deny"
    EXECUTE = "execute"


class ActorType(models.TextChoices):
    """Who did it."""

    USER = "user"
    TOKEN = "token"  # noqa: S105 - an actor type, not a secret
    SERVICE = "service"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


class Outcome(models.TextChoices):
    """How it ended."""

    SUCCESS = "success"
    DENIED = "denied"
    FAILED = "failed"
