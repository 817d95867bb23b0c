"""Periodic upkeep of the readings storage (queue ``default``; scheduled in settings
``CELERY_BEAT_SCHEDULE``). Both tasks are safe to run twice and concurrently."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import transaction

from acquisition import storage

PARTITION_DAYS_AHEAD = 7


@shared_task(
    name="acquisition.tasks.manage_partitions",
    autoretry_for=(Exception,),
    retry_backoff=60,
    retry_backoff_max=3600,
    max_retries=5,
)
def manage_partitions() -> dict[str, int]:
    """Create the next week's daily partitions; drop those past READINGS_RETENTION_DAYS."""
    created = storage.ensure_partitions(PARTITION_DAYS_AHEAD)
    dropped = storage.drop_old_partitions(settings.READINGS_RETENTION_DAYS)
    return {"created": len(created), "dropped": len(dropped)}


@shared_task(
    name="acquisition.tasks.rollup_readings",
    autoretry_for=(Exception,),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=5,
)
def rollup_readings() -> int:
    """Roll up the closed hours the ingest queued (and the days they belong to)."""
    with transaction.atomic():
        return storage.rollup_queued()
