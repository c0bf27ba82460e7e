"""WSGI entry point (gunicorn ``ecap_site.wsgi:application``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecap_site.settings.prod")

application = get_wsgi_application()
