"""The ingest's hand-off to the alarm evaluation (acquisition/handoff.py).

Batches a web process stores within one window reach the broker as one
``alarms.tasks.evaluate_batches`` message, and a real worker evaluates every one of them (their
``AlarmHandoff`` rows are gone). One batch that fails to evaluate does not hold back the others.
Real parts: gunicorn, a private redis-server, a Celery worker, PostgreSQL.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from acquisition.models import AlarmHandoff, LatestReading
from alarms.tasks import evaluate_batches
from sites.models import Battery
from tests.acquisition.conftest import database_url
from tests.acquisition.e2e_helpers import Portal, tail, wait_for
from tests.conftest import make_bank, make_bus, make_gateway, make_site
from tests.resilience.helpers import PrivateRedis, celery_worker

WINDOW_MS = 1500  # wide enough that three sequential requests always share it


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateRedis]:
    with PrivateRedis(tmp_path) as server:
        yield server


def _gateway_with_batteries(n: int = 3) -> tuple[str, list[int]]:
    site = make_site()
    gateway, token = make_gateway(site)
    make_bank(site, bus=make_bus(gateway), batteries=n, cmu_address=None)
    ids = list(Battery.objects.filter(bus__gateway=gateway).values_list("pk", flat=True))
    return token, ids


def _post(url: str, token: str, ids: list[int], ts: dt.datetime) -> dict[str, Any]:
    body = {
        "batch": None,
        "scans": [
            {
                "ts": ts.isoformat().replace("+00:00", "Z"),
                "batteries": [{"id": i, "voltage": 13.5, "temperature": 24.0} for i in ids],
            }
        ],
    }
    request = urllib.request.Request(
        f"{url}/api/v1/ingest/",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def _messages(url: str) -> list[dict[str, Any]]:
    """The Celery messages waiting in the ``alarms`` queue, decoded: task name and arguments."""
    client = redis.Redis.from_url(url)
    out = []
    for raw in client.lrange("alarms", 0, -1):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        out.append({"task": message["headers"]["task"], "args": args})
    return out


@pytest.mark.slow
def test_batches_stored_within_one_window_reach_the_worker_as_one_message(
    transactional_db: Any, tmp_path: Path, broker: PrivateRedis
) -> None:
    gateways = [_gateway_with_batteries() for _ in range(3)]
    env = {"CELERY_BROKER_URL": broker.url, "INGEST_HANDOFF_WINDOW_MS": str(WINDOW_MS)}
    portal = Portal(tmp_path, workers=1, args=["--worker-class", "gthread"], env=env)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with portal:
        for token, ids in gateways:
            assert _post(portal.url, token, ids, now)["accepted"] == len(ids)
        assert AlarmHandoff.objects.count() == 3  # owed, stored with the readings
        messages = wait_for(lambda: _messages(broker.url), 10, "the hand-off message")
    assert len(messages) == 1, messages
    [message] = messages
    assert message["task"] == "alarms.tasks.evaluate_batches"
    payloads = message["args"][0]
    assert sorted(p["batteries"] for p in payloads) == sorted(sorted(ids) for _, ids in gateways)

    worker_env = {"CELERY_BROKER_URL": broker.url, "DATABASE_URL": database_url()}
    log = tmp_path / "worker.log"
    with celery_worker(log, worker_env, queues="alarms"):
        wait_for(
            lambda: not AlarmHandoff.objects.exists(),
            30,
            f"every batch evaluated\n{tail(log)}",
        )
    assert "alarms.tasks.evaluate_batches" in tail(log, 100_000)
    assert LatestReading.objects.count() == sum(len(ids) for _, ids in gateways)


def test_a_batch_that_fails_to_evaluate_does_not_hold_back_the_others(
    transactional_db: Any,
) -> None:
    # Readings stored through the portal (no broker here: evaluated in the request), then two
    # owed evaluations replayed as one message with a broken batch between them.
    from django.test import Client

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    good = []
    for i in range(2):
        token, ids = _gateway_with_batteries(2)
        reply = Client().post(
            "/api/v1/ingest/",
            json.dumps({"scans": [{"ts": now.isoformat(), "batteries": [{"id": b} for b in ids]}]}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert reply.status_code == 200, reply.content
        gateway_id = Battery.objects.get(pk=ids[0]).bus.gateway_id
        AlarmHandoff.objects.create(
            key=f"k{i}", gateway_id=gateway_id, payload={}, created_at=now, queued_at=now
        )
        good.append(
            {
                "gateway": gateway_id,
                "batteries": ids,
                "banks": [],
                "start": now.isoformat(),
                "end": now.isoformat(),
                "silent": {"batteries": [], "banks": []},
                "handoff": f"k{i}",
            }
        )
    broken = {"gateway": "not an id", "handoff": "broken"}
    with pytest.raises(ValueError):
        evaluate_batches([good[0], broken, good[1]])  # the task shows as failed
    assert not AlarmHandoff.objects.filter(key__in=["k0", "k1"]).exists()  # both evaluated
