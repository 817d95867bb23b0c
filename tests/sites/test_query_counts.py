"""List pages and API lists run a fixed number of queries, whatever the number of rows (no N+1)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import make_bank, make_site

pytestmark = pytest.mark.django_db


@pytest.fixture
def big_fleet(fleet):
    for _ in range(12):
        make_bank(make_site(), batteries=5)
    return fleet


def test_fleet_page_queries_do_not_grow_with_sites(
    client, big_fleet, django_assert_max_num_queries
):
    client.force_login(big_fleet.admin)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("sites:fleet")).status_code == 200


def test_site_and_bank_pages_queries_are_bounded(client, big_fleet, django_assert_max_num_queries):
    client.force_login(big_fleet.admin)
    bank = big_fleet.banks[0]
    with django_assert_max_num_queries(8):
        assert client.get(reverse("sites:site", args=[bank.site.slug])).status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get(reverse("sites:bank", args=[bank.pk])).status_code == 200


@pytest.mark.parametrize(
    "path", ["/api/v1/sites/", "/api/v1/banks/", "/api/v1/batteries/", "/api/v1/battery-models/"]
)
def test_api_lists_queries_do_not_grow_with_rows(
    client, big_fleet, path, django_assert_max_num_queries
):
    client.force_login(big_fleet.manager)
    with django_assert_max_num_queries(6):
        response = client.get(path)
    assert response.status_code == 200
    assert response.json()["count"] > 0
