"""Hourly and daily rollups: min/avg/max right, recomputation idempotent, late data included."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from acquisition import storage, tasks
from acquisition.models import DailyRollup, HourlyRollup
from acquisition.registermap import BMU_PARAMETERS
from tests.acquisition.conftest import battery_reading, body, post, scan

HOUR = dt.datetime(2026, 11, 20, 4, tzinfo=dt.UTC)


def store(battery_id: int, ts: dt.datetime, voltage: float, dcr: float | None = 4.0) -> None:
    row = (battery_id, ts, voltage, 20.0, dcr, voltage, voltage, 0)
    storage.ensure_partitions_for([ts.date()])
    storage.store_batch([row], [])


@pytest.fixture
def readings(setup: Any) -> int:
    battery = setup.batteries[0].pk
    for minute, voltage in ((0, 13.0), (20, 13.5), (40, 14.5)):
        store(battery, HOUR + dt.timedelta(minutes=minute), voltage)
    store(battery, HOUR + dt.timedelta(hours=1, minutes=5), 12.0, dcr=None)
    return battery


def test_hourly_rollup_has_count_min_avg_max(readings: int) -> None:
    storage.rollup("hour", HOUR, HOUR + dt.timedelta(hours=2))
    first = HourlyRollup.objects.get(battery_id=readings, bucket=HOUR)
    assert first.n == 3
    assert (first.voltage_min, first.voltage_max) == (13.0, 14.5)
    # stored rounded to the 6 significant digits of the readings it averages (41/3 = 13.6666...)
    assert first.voltage_avg == 13.6667
    second = HourlyRollup.objects.get(battery_id=readings, bucket=HOUR + dt.timedelta(hours=1))
    assert second.n == 1
    assert second.dcr_avg is None


def test_daily_rollup_weights_hours_by_their_reading_count(readings: int) -> None:
    storage.backfill_rollups(HOUR, HOUR + dt.timedelta(hours=2))
    day = DailyRollup.objects.get(battery_id=readings)
    assert day.bucket == HOUR.replace(hour=0)
    assert day.n == 4
    assert (day.voltage_min, day.voltage_max) == (12.0, 14.5)
    assert day.voltage_avg == pytest.approx((13.0 + 13.5 + 14.5 + 12.0) / 4, abs=1e-4)
    assert day.voltage_avg == 13.25
    assert day.dcr_avg == pytest.approx(4.0)


def test_recomputing_a_bucket_is_idempotent_and_picks_up_late_data(readings: int) -> None:
    storage.rollup("hour", HOUR, HOUR + dt.timedelta(hours=1))
    storage.rollup("hour", HOUR, HOUR + dt.timedelta(hours=1))
    assert HourlyRollup.objects.filter(battery_id=readings).count() == 1
    store(readings, HOUR + dt.timedelta(minutes=50), 10.0)
    storage.rollup("hour", HOUR, HOUR + dt.timedelta(hours=1))
    bucket = HourlyRollup.objects.get(battery_id=readings, bucket=HOUR)
    assert (bucket.n, bucket.voltage_min) == (4, 10.0)


def test_the_rollup_task_rolls_up_the_closed_hours_the_ingest_queued(
    client: Any, setup: Any
) -> None:
    battery = setup.batteries[0].pk
    closed = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(
        hours=2
    )
    for minute in (1, 2):
        ts = closed + dt.timedelta(minutes=minute)
        post(client, setup.token, body(scan(ts, [battery_reading(battery, voltage=13.0 + minute)])))
    assert tasks.rollup_readings.delay().get() == 2  # one hourly and one daily row
    rollup = HourlyRollup.objects.get(battery_id=battery)
    assert (rollup.bucket, rollup.n, rollup.voltage_max) == (closed, 2, 15.0)
    assert DailyRollup.objects.filter(battery_id=battery).exists()
    assert tasks.rollup_readings.delay().get() == 0  # the queue was claimed


def test_every_parameter_has_its_rollup_columns() -> None:
    names = {f.name for f in HourlyRollup._meta.get_fields()}
    for parameter in BMU_PARAMETERS:
        assert {f"{parameter}_min", f"{parameter}_avg", f"{parameter}_max"} <= names
