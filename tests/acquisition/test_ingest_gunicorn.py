"""The ingest through a real gunicorn server, posted with urllib as the agent does."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import orjson
import pytest

from acquisition.models import LatestReading, Reading
from tests.acquisition.conftest import body, full_scan, make_gateway_setup, now_ms


def _post(url: str, token: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url + "/api/v1/ingest/",
        data=orjson.dumps(payload),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.status, json.loads(response.read())


@pytest.mark.slow
def test_ingest_over_a_real_gunicorn_server_stores_a_batch_once(portal_server: str) -> None:
    setup = make_gateway_setup(batteries=4)
    payload = body(full_scan(setup, now_ms()))
    status, reply = _post(portal_server, setup.token, payload)
    assert status == 200
    assert (reply["accepted"], reply["duplicates"], reply["rejected"]) == (5, 0, [])
    status, reply = _post(portal_server, setup.token, payload)
    assert (reply["accepted"], reply["duplicates"]) == (0, 5)
    ids = [b.pk for b in setup.batteries]
    assert Reading.objects.filter(battery_id__in=ids).count() == 4
    assert LatestReading.objects.filter(battery_id__in=ids).count() == 4
