"""Rate limits: per user, per token and per anonymous IP; 429 in the error format, with
Retry-After. The agents' ingest is never throttled."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from bms_portal.api.tokens import create_token
from tests.api.conftest import API
from tests.conftest import redis_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_rates(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "2/hour", "user": "5/hour", "token": "2/hour"},
    }


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _throttled(response) -> None:
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "throttled" and "expected available" in body["detail"].lower()
    assert 1 <= int(response["Retry-After"]) <= 3600


def test_each_token_and_then_the_user_are_limited(fleet, low_rates):
    _, first = create_token(fleet.manager, "a")
    _, second = create_token(fleet.manager, "b")
    one, two = _client(first), _client(second)
    assert [one.get(f"{API}sites/").status_code for _ in range(2)] == [200, 200]
    _throttled(one.get(f"{API}sites/"))  # this token's 2/hour (refused requests count too)
    assert [two.get(f"{API}sites/").status_code for _ in range(2)] == [200, 200]
    session = APIClient()
    session.force_login(fleet.manager)
    _throttled(session.get(f"{API}sites/"))  # the user's 5/hour, over both tokens


def test_anonymous_callers_are_limited_per_ip(fleet, low_rates):
    """Anonymous callers get 401 before any limit, except where anonymous access is allowed:
    the schema, whose generation is the expensive thing to protect."""
    anonymous = APIClient()
    assert [anonymous.get("/api/schema/").status_code for _ in range(2)] == [200, 200]
    _throttled(anonymous.get("/api/schema/"))


def test_the_ingest_is_never_throttled(fleet, low_rates):
    agent = APIClient()
    for _ in range(5):
        response = agent.post(f"{API}ingest/", b"{}", content_type="application/json")
        assert response.status_code == 401  # no gateway token; never 429


def test_counters_in_redis_are_shared_through_the_cache(fleet, low_rates, settings):
    url = redis_url()
    if url is None:
        pytest.skip("no Redis reachable (REDIS_URL / TEST_REDIS_URL)")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
    _, key = create_token(fleet.manager, "redis")
    client = _client(key)
    assert [client.get(f"{API}sites/").status_code for _ in range(2)] == [200, 200]
    _throttled(client.get(f"{API}sites/"))
    from bms_portal.models import ApiRateWindow

    assert not ApiRateWindow.objects.exists()
