"""POST /api/v1/ingest/ refusals: 400 naming the JSON path, 413, 401 naming the problem."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from acquisition.models import Reading
from sites import actions
from tests.acquisition.conftest import battery_reading, body, full_scan, now_ms, post, scan


def test_malformed_json_is_a_400_saying_where(client: Any, setup: Any) -> None:
    reply = post(client, setup.token, b'{"batch": "x", "scans": [,]}')
    assert reply.status_code == 400
    assert reply.json()["error"].startswith("malformed JSON at line 1 column 26")


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda b: b.pop("scans"), "scans: missing"),
        (lambda b: b.update(scans={}), "scans: expected an array, got object"),
        (
            lambda b: b["scans"][0].update(ts="2026-11-24 04:20"),
            "scans[0].ts: not an ISO 8601 UTC timestamp",
        ),
        (
            lambda b: b["scans"][0].update(ts="2026-11-24T04:20:00+01:00"),
            "scans[0].ts: not an ISO 8601 UTC timestamp",
        ),
        (
            lambda b: b["scans"][0]["batteries"][1].update(voltage="13.5"),
            "scans[0].batteries[1].voltage: expected a number or null, got string",
        ),
        (
            lambda b: b["scans"][0]["batteries"][0].pop("id"),
            "scans[0].batteries[0].id: expected a positive integer id, got None",
        ),
        (
            lambda b: b["scans"][0]["banks"][0].update(status=True),
            "scans[0].banks[0].status: expected an integer 0-32767 or null",
        ),
        (
            lambda b: b["scans"][0]["silent"].update(batteries=["7"]),
            "scans[0].silent.batteries[0]: expected a positive integer id, got '7'",
        ),
    ],
)
def test_wrong_structure_is_a_400_listing_problems_by_json_path(
    client: Any, setup: Any, mutate: Any, problem: str
) -> None:
    payload = body(full_scan(setup, now_ms()))
    mutate(payload)
    reply = post(client, setup.token, payload)
    assert reply.status_code == 400
    data = reply.json()
    assert data["error"] == "wrong structure"
    assert any(p.startswith(problem) for p in data["detail"]), data["detail"]


def test_a_400_stores_nothing_of_the_batch(client: Any, setup: Any) -> None:
    good = setup.batteries[0]
    payload = body(scan(now_ms(), [battery_reading(good.pk), battery_reading(good.pk, emf="x")]))
    assert post(client, setup.token, payload).status_code == 400
    assert not Reading.objects.filter(battery_id=good.pk).exists()


@override_settings(INGEST_MAX_BODY_BYTES=2048)
def test_a_body_over_the_limit_is_a_413(client: Any, setup: Any) -> None:
    payload = body(*(full_scan(setup, now_ms()) for _ in range(10)))
    reply = post(client, setup.token, payload)
    assert reply.status_code == 413
    assert "2048 bytes" in reply.json()["error"]


def test_missing_token_is_a_401(client: Any, setup: Any) -> None:
    reply = post(client, None, body())
    assert reply.status_code == 401
    assert reply.json()["error"].startswith("missing Authorization header")
    assert reply["WWW-Authenticate"].startswith("Bearer")


def test_malformed_authorization_header_is_a_401(client: Any, setup: Any) -> None:
    reply = post(client, None, body(), HTTP_AUTHORIZATION=f"Token {setup.token}")
    assert reply.status_code == 401
    assert reply.json()["error"].startswith("malformed Authorization header")


def test_unknown_token_is_a_401(client: Any, setup: Any) -> None:
    reply = post(client, "not-a-token", body())
    assert reply.status_code == 401
    assert reply.json()["error"] == "unknown gateway token"


def test_revoked_token_is_a_401(client: Any, setup: Any) -> None:
    actions.revoke_gateway_token(setup.gateway)
    reply = post(client, setup.token, body(full_scan(setup, now_ms())))
    assert reply.status_code == 401
    assert reply.json()["error"] == "gateway token revoked"
    assert not Reading.objects.filter(battery_id=setup.batteries[0].pk).exists()
