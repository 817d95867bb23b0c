"""Property-based run of the API against its own schema (schemathesis, in-process WSGI).

Authenticated as a manager of sites 1-2 with a personal token, every GET operation and the safe
POSTs (acknowledge: 404/403 on generated ids; creating a token or gateway with a token: 403) are
called with generated parameters. No answer may be a server error or differ from the schema.
Bounded and derandomized so it runs in CI (``make test``) in about a minute.

Uses schemathesis' Python API (``from_wsgi``, ``as_strategy``, ``call_and_validate``) with plain
Hypothesis rather than its pytest plugin (``from_fixture``), which fails on pytest 9.2.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from acquisition import storage
from bms_portal.api.tokens import create_token
from bms_portal.models import ApiToken
from tests.api.conftest import alarm_ids, forecast_rows, resource_of

CHECKS = [not_a_server_error, response_schema_conformance]
ALARMS = "/api/v1/alarms/"


@pytest.fixture
def in_test_transaction() -> Iterator[None]:
    """Keep the test's connection (and its transaction) open across WSGI requests, as Django's
    test client does: the real handler closes connections when a request ends."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(fleet: Any, settings: Any, in_test_transaction: None) -> Any:
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": None, "user": None, "token": None},
    }
    return schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture
def manager_auth(fleet: Any) -> dict[str, str]:
    _, key = create_token(fleet.manager, "schemathesis")
    return {"Authorization": f"Token {key}"}


@pytest.fixture
def known(fleet: Any, manager_auth: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per resource, the path or query values of objects the manager can see, so generated
    cases also reach real answers (200), not only 404s for random ids. Readings an hour old
    fall in the default range."""
    bank = fleet.banks[0]
    battery = bank.batteries.order_by("position").first()
    now = timezone.now()
    storage.ensure_partitions_for([(now - dt.timedelta(hours=1)).date(), now.date()])
    storage.store_batch(
        [
            (battery.pk, now - dt.timedelta(minutes=m), 13.5, 21.0, 4.3, 13.4, 13.1, 0)
            for m in (5, 65)
        ],
        [(bank.pk, now - dt.timedelta(minutes=m), 40.5, -1.0, 22.0, 0) for m in (5, 65)],
    )
    token = ApiToken.objects.get(user=fleet.manager)
    forecasts, lives, thresholds = forecast_rows(fleet, 0)  # on the manager's first site
    return {
        "forecasts": {"path": {"id": forecasts[0]}},
        "remaining-life": {"path": {"id": lives[0]}},
        "thresholds": {"path": {"id": thresholds[0]}},
        "reports": {"path": {"id": fleet.sites[0].pk}},
        "sites": {"path": {"id": fleet.sites[0].pk}},
        "banks": {"path": {"id": bank.pk}},
        "batteries": {"path": {"id": battery.pk}},
        "battery-models": {"path": {"id": battery.model_id}},
        "tokens": {"path": {"id": token.pk}},
        "alarms": {"path": {"id": alarm_ids(fleet, 0)[0]}},
        "latest": {"query": {"site": fleet.sites[0].pk}},
    }


def _operations(schema: Any) -> Iterator[Any]:
    """GET operations and the safe POSTs (not revoke / rotate: they would cut the test's own
    token; not the agents' ingest, which is not part of this schema's contract for users)."""
    filtered = (
        schema.include(method=["GET", "POST"])
        .exclude(path_regex=r"(revoke|rotate-token)/$")
        .exclude(path_regex=r"/ingest/$")
    )
    for result in filtered.get_all_operations():
        yield result.ok()


def _run(
    operation: Any, mode: GenerationMode, headers: dict[str, str], known: dict[str, Any] | None
) -> None:
    fixed: dict[str, Any] = {}
    if known and "{id}" in operation.path and "path" in known:
        fixed["path_parameters"] = known["path"]
    if known and "{" not in operation.path and "query" in known:
        fixed["query"] = known["query"]

    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @settings(
        max_examples=10,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        with transaction.atomic():  # a failed statement must not poison the next cases
            case.call_and_validate(headers=headers, checks=CHECKS)

    check()


def _failures(
    schema: Any, headers: dict[str, str], known: dict[str, dict[str, Any]], *, alarms: bool
) -> list[str]:
    """Run every selected operation with valid inputs (random ids, then visible ones) and
    invalid inputs; every failure, reported."""
    failures = []
    operations = [op for op in _operations(schema) if op.path.startswith(ALARMS) == alarms]
    assert operations
    for operation in operations:
        ids = known.get(resource_of(operation.path))
        runs = [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
        if ids:
            runs.append((GenerationMode.POSITIVE, ids))
        for mode, fixed in runs:
            try:
                _run(operation, mode, headers, fixed)
            except (Exception, BaseExceptionGroup) as exc:  # FailureGroup is a BaseExceptionGroup
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return failures


def test_the_api_answers_as_its_schema_says(
    api_schema: Any, manager_auth: dict[str, str], known: dict[str, dict[str, Any]]
) -> None:
    failures = _failures(api_schema, manager_auth, known, alarms=False)
    assert not failures, "\n\n".join(failures)


def test_the_alarms_api_answers_as_its_schema_says(
    api_schema: Any, manager_auth: dict[str, str], known: dict[str, dict[str, Any]]
) -> None:
    failures = _failures(api_schema, manager_auth, known, alarms=True)
    assert not failures, "\n\n".join(failures)
