"""The Celery app, configured from Django settings (``CELERY_*``).

Queues: ``alarms`` (fast, evaluation and notifications), ``forecasting`` (slow, LightGBM) and
``default`` (everything else). With no broker configured the tasks run in-process (eager), which is
what the embedded demo does.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bms_portal.settings")

app = Celery("bms_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("alarms"), Queue("forecasting"))
app.autodiscover_tasks()
# tasks of sub-packages that are not apps themselves (autodiscovery looks for <app>.tasks only)
app.autodiscover_tasks(["sites.reports"])
