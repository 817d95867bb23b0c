"""Every endpoint in the schema is scoped: a manager of sites 1-2 gets 404 for any object of
site 3 by guessed id, and lists never hold site-3 objects. Endpoints are discovered from the
generated schema, so a new endpoint is swept (or fails here until its resource is registered)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import (
    API,
    UNSCOPED,
    Foreign,
    concrete,
    operations,
    resource_of,
    token_client,
)

pytestmark = pytest.mark.django_db

SCOPING_PARAMS = ("site", "bank", "battery")


def _is_list(path: str) -> bool:
    return "{" not in path


def test_every_resource_in_the_schema_is_registered_for_the_sweep(schema, foreign):
    resources = {resource_of(path) for path, _ in operations(schema, "get")}
    unknown = resources - set(foreign.ids) - UNSCOPED
    assert not unknown, f"add site-3 objects of {unknown} to tests/api/conftest.py:foreign"


def test_every_detail_endpoint_answers_404_for_site_3_objects(schema, fleet, foreign):
    api = token_client(fleet.manager)
    checked = 0
    for method in ("get", "post", "put", "patch", "delete"):
        for path, _ in operations(schema, method):
            resource = resource_of(path)
            if _is_list(path) or resource in UNSCOPED:
                continue
            for pk in foreign.ids[resource]:
                response = getattr(api, method)(concrete(path, pk), {}, format="json")
                assert response.status_code == 404, (method, path, pk, response.content)
                assert response.json()["error"] == "not_found"
                checked += 1
    assert checked >= 10


def _result_ids(body: Any) -> list[int]:
    rows = body["results"] if isinstance(body, dict) and "results" in body else body
    return [row["id"] for row in rows if isinstance(row, dict) and "id" in row]


def test_lists_never_hold_site_3_objects_but_the_admins_do(schema, fleet, foreign):
    manager, admin = token_client(fleet.manager), token_client(fleet.admin)
    for path, _ in operations(schema, "get"):
        resource = resource_of(path)
        if not _is_list(path) or resource in UNSCOPED or not foreign.ids[resource]:
            continue
        if path.endswith("/reports/fleet/"):  # a download (scoping: test_thresholds_forecasts)
            continue
        response = manager.get(path, {"page_size": 1000})
        assert response.status_code == 200, (path, response.content)
        rows = response.json()["results"]
        assert not set(_result_ids(rows)) & set(foreign.ids[resource]), path
        assert all(row.get("site") != foreign.site for row in rows), path
        if resource != "tokens":  # tokens are personal, even for admins
            seen = _result_ids(admin.get(path, {"page_size": 1000}).json())
            assert set(foreign.ids[resource]) <= set(seen), f"the sweep cannot see {path}"


def test_filtering_a_list_by_a_site_3_object_finds_nothing(schema, fleet, foreign):
    api = token_client(fleet.manager)
    ids = {"site": foreign.site, "bank": foreign.bank, "battery": foreign.battery}
    checked = 0
    for path, operation in operations(schema, "get"):
        if not _is_list(path):
            continue
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        for name in SCOPING_PARAMS:
            if name not in names:
                continue
            response = api.get(path, {name: ids[name]})
            checked += 1
            if response.status_code == 404:
                continue
            assert response.status_code == 200, (path, name, response.content)
            body = response.json()
            assert body.get("results", body.get("banks")) == [], (path, name)
    assert checked >= 5


def test_latest_of_a_site_3_site_or_bank_is_404(fleet, foreign: Foreign):
    api = token_client(fleet.manager)
    assert api.get(f"{API}latest/", {"site": foreign.site}).status_code == 404
    assert api.get(f"{API}latest/", {"bank": foreign.bank}).status_code == 404


def test_gateways_are_for_admins_only(schema, fleet, foreign):
    own_gateway = fleet.sites[0].gateways.first()
    api = token_client(fleet.manager)
    assert api.get(f"{API}gateways/").json()["results"] == []
    assert api.get(f"{API}gateways/{own_gateway.pk}/").status_code == 404
    denied = api.post(f"{API}gateways/", {"site": fleet.sites[0].pk, "name": "x"}, format="json")
    assert denied.status_code == 403
    assert denied.json()["error"] == "permission_denied"
