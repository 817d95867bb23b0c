"""WSGI entry point (gunicorn bms_portal.wsgi).

The edge agents' ingest POSTs skip Django's request handler and middleware (``fastpath``: the
hot path, once per scan per gateway); everything else is the Django application.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bms_portal.settings")
django_application = get_wsgi_application()

from bms_portal.fastpath import AgentFastPath  # noqa: E402 - needs the settings loaded

application = AgentFastPath(django_application)
