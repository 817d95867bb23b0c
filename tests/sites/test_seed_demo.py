"""`manage.py seed_demo` builds the fleet the README promises, and can be run again."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from sites.models import Bank, Battery, Gateway, Site

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_three_sites_banks_batteries_and_users(tmp_path):
    call_command("seed_demo", out=tmp_path, portal_url="http://127.0.0.1:8000")
    sites = list(Site.objects.order_by("name"))
    assert len(sites) == 3
    for site in sites:
        banks = Bank.objects.filter(site=site)
        assert 2 <= banks.count() <= 4
        for bank in banks:
            assert 24 <= bank.batteries.count() <= 40
    types = set(Battery.objects.values_list("model__unit_type", flat=True))
    chemistries = set(Battery.objects.values_list("model__chemistry", flat=True))
    assert types == {"L", "H"}
    assert len(chemistries) >= 3

    assert authenticate(username="admin", password="admin").is_superuser
    manager = authenticate(username="manager", password="manager")
    viewer = authenticate(username="viewer", password="viewer")
    assert set(Site.objects.for_user(manager)) == set(sites[:2])
    assert set(Site.objects.for_user(viewer)) == set(sites[:1])


def test_seed_demo_writes_agent_configs_whose_token_authenticates(tmp_path):
    call_command("seed_demo", out=tmp_path, portal_url="http://127.0.0.1:8000")
    config = (tmp_path / "agent-alder-street.toml").read_text()
    token = config.split('token = "')[1].split('"')[0]
    assert Gateway.objects.by_token(token).site.slug == "alder-street"
    scenario = json.loads((tmp_path / "sim-alder-street.json").read_text())
    served = sum(bank["count"] for bank in scenario["banks"])
    assert served == Battery.objects.filter(bank__site__slug="alder-street").count()


def test_seed_demo_is_idempotent(tmp_path):
    call_command("seed_demo", out=tmp_path)
    counts = (Site.objects.count(), Bank.objects.count(), Battery.objects.count())
    call_command("seed_demo", out=tmp_path)
    assert (Site.objects.count(), Bank.objects.count(), Battery.objects.count()) == counts
