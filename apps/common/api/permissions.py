"""Model permissions for API resources: reads need ``view_<model>``, writes ``add``/``change``/``delete``."""

from __future__ import annotations

from rest_framework import permissions


class ModelPermissions(permissions.DjangoModelPermissions):
    """Django's model permissions, with reads requiring the view permission (roles grant it)."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }
