"""Run the periodic tasks of ``CELERY_BEAT_SCHEDULE`` in this process, for setups without a broker.

The embedded demo has no Redis, so there is no beat and no worker; this loop takes their place:
each entry runs in-process at its interval (crontab entries: whenever they are due, checked every
few seconds). Production uses ``celery beat`` and workers instead (deploy/).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from celery.schedules import crontab, schedule
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from bms_portal.celery import app

log = logging.getLogger(__name__)


def _as_schedule(value: Any) -> schedule:
    if isinstance(value, schedule | crontab):
        return value
    if isinstance(value, dt.timedelta):
        return schedule(value)
    return schedule(dt.timedelta(seconds=float(value)))


class Command(BaseCommand):
    help = "Run CELERY_BEAT_SCHEDULE in-process (no broker). Ctrl-C to stop."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run every entry once and exit")

    def handle(self, *args: Any, once: bool = False, **options: Any) -> None:
        app.loader.import_default_modules()
        entries = {
            name: (spec["task"], tuple(spec.get("args", ())), _as_schedule(spec["schedule"]))
            for name, spec in settings.CELERY_BEAT_SCHEDULE.items()
        }
        self.stdout.write(f"periodic: {len(entries)} entries: {', '.join(sorted(entries))}")
        last_run: dict[str, dt.datetime] = {}
        while True:
            now = dt.datetime.now(dt.UTC)
            for name, (task_name, task_args, sched) in entries.items():
                previous = last_run.get(name)
                due = previous is None or sched.is_due(previous).is_due
                if not due:
                    continue
                last_run[name] = now
                task = app.tasks.get(task_name)
                if task is None:
                    log.warning("periodic: %s: no task named %s", name, task_name)
                    continue
                started = time.monotonic()
                try:
                    task.apply(args=task_args, throw=True)
                except Exception:
                    log.exception("periodic: %s failed", name)
                else:
                    log.info("periodic: %s done in %.2f s", name, time.monotonic() - started)
            if once:
                return
            time.sleep(5)
