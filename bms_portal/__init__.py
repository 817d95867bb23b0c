"""Project package: settings, root URLs, the Celery app and the embedded-database launcher."""

from bms_portal.celery import app as celery_app

__all__ = ("celery_app",)
