"""A real Celery worker against Redis runs a task that writes to the database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery

from bms_portal.models import WorkerHeartbeat
from tests.conftest import database_url_for_subprocess, redis_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_consumes_its_queue_and_touches_the_database():
    broker = redis_url()
    if broker is None:
        pytest.skip("no Redis reachable (set TEST_REDIS_URL)")
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, DATABASE_URL=database_url_for_subprocess(), CELERY_BROKER_URL=broker)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bms_portal",
            "worker",
            "-Q",
            queue,
            "--pool",
            "solo",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        sender = Celery(broker=broker)
        sender.send_task("bms_portal.heartbeat", args=[queue], queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            if WorkerHeartbeat.objects.filter(queue=queue).exists():
                break
            time.sleep(0.2)
        assert WorkerHeartbeat.objects.filter(queue=queue).exists(), "worker never ran the task"
    finally:
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
    assert "bms_portal.heartbeat" in output


@pytest.mark.django_db
def test_without_a_broker_tasks_run_in_process():
    from django.conf import settings

    from bms_portal.tasks import heartbeat

    assert settings.CELERY_TASK_ALWAYS_EAGER
    heartbeat.delay("default")
    assert WorkerHeartbeat.objects.filter(queue="default").exists()


def test_a_worker_knows_every_task_the_beat_schedule_sends():
    """A fresh process loads the tasks as a worker does; every scheduled task must be there
    (the report scheduler, in the ``sites.reports`` sub-package, once was not: KeyError)."""
    from django.conf import settings

    code = (
        "import django; django.setup()\n"
        "from bms_portal.celery import app\n"
        "app.loader.import_default_modules()\n"
        "print('\\n'.join(sorted(app.tasks)))\n"
    )
    env = dict(os.environ, DATABASE_URL=database_url_for_subprocess())
    env.pop("CELERY_BROKER_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled - set(out) == set()
    assert "sites.reports.tasks.send_due" in out
