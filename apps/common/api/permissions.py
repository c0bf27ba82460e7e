"""Model permissions for API resources: reads need ``view_<model>``, writes ``add``/``change``/``delete``."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request


class ModelPermissions(permissions.DjangoModelPermissions):
    """Django's model permissions, with reads requiring the view permission (roles grant it)."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


class ActionPermissions(ModelPermissions):
    """Model permissions of the view's model, except for the actions the view names in ``action_perms``
    (``{"action name": ("app.codename", …)}``), which need exactly those."""

    def has_permission(self, request: Request, view: Any) -> bool:
        perms = getattr(view, "action_perms", {}).get(getattr(view, "action", None))
        if perms is None:
            return super().has_permission(request, view)
        user = request.user
        return bool(user and user.is_authenticated and user.has_perms(perms))
