"""WSGI entry point (gunicorn ``ecap_site.wsgi:application``).

Tracing is set up before Django builds its handler, since the Django instrumentation adds a middleware; under
gunicorn the ``post_fork`` hook (deploy/gunicorn.conf.py) has already done it in this worker and this call is a no-op.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecap_site.settings.prod")

from apps.common.tracing import tracing_setup  # imported after the settings module is chosen

tracing_setup(component="web")
application = get_wsgi_application()
