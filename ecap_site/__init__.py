"""The ECAP Governance Portal Django project."""

from ecap_site.celery import app as celery_app

__all__ = ["celery_app"]
