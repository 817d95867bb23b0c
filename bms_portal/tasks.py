"""Project-level tasks."""

from __future__ import annotations

import socket

from celery import shared_task
from django.utils import timezone

from bms_portal.models import WorkerHeartbeat


@shared_task(name="bms_portal.heartbeat", ignore_result=True)
def heartbeat(queue: str) -> None:
    """Record that a worker consuming ``queue`` is alive (beat sends one per queue)."""
    WorkerHeartbeat.objects.update_or_create(
        queue=queue, defaults={"hostname": socket.gethostname(), "seen_at": timezone.now()}
    )
