"""Builders for the page tests: latest (and raw) readings written through the COPY path."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from acquisition import storage
from sites.models import Bank, Battery


def now_s() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def put_readings(
    batteries: Iterable[Battery],
    ts: dt.datetime | None = None,
    *,
    voltage: float = 13.5,
    temperature: float = 24.0,
    dcr: float = 4.1,
    **per_battery: dict[str, Any],
) -> dt.datetime:
    """One reading per battery at ``ts`` (now); ``per_battery={"b<id>": {...}}`` overrides."""
    ts = ts or now_s()
    rows = []
    for b in batteries:
        values = {"voltage": voltage, "temperature": temperature, "dcr": dcr}
        values.update(per_battery.get(f"b{b.pk}", {}))
        v = values["voltage"]
        rows.append((b.pk, ts, v, values["temperature"], values["dcr"], v - 0.02, v + 0.03, 0))
    storage.ensure_partitions_for({ts.date()})
    with transaction.atomic():
        storage.store_batch(rows, [])
    return ts


def put_bank_reading(bank: Bank, current: float, ts: dt.datetime | None = None) -> None:
    ts = ts or now_s()
    storage.ensure_partitions_for({ts.date()})
    with transaction.atomic():
        storage.store_batch([], [(bank.pk, ts, 54.2, current, 22.0, 0)])


def batteries_of(bank: Bank) -> list[Battery]:
    return list(bank.batteries.order_by("position"))
