"""Daily aggregates from ``DailyRollup`` as the engine's long table (two queries, any fleet size).

One row per (battery, day): ``series_id`` (battery id), ``day`` (days since 1970-01-01), the
daily means ``dcr``, ``voltage``, ``emf``, ``micro_voltage``, ``temperature``, and the battery's
``bank_id``, ``chemistry``, ``unit_type``, ``position`` and ``dcr_baseline`` (mOhm, may be NaN).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd

from acquisition.models import DailyRollup
from sites.choices import BatteryStatus
from sites.models import Battery

VALUES = ("dcr", "voltage", "emf", "micro_voltage", "temperature")
COLUMNS = ("series_id", "day", *VALUES)
EPOCH = dt.date(1970, 1, 1)


def day_date(number: float) -> dt.date:
    return EPOCH + dt.timedelta(days=int(number))


def batteries_frame(battery_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """In-service batteries' attributes (one query), indexed by battery id."""
    qs = Battery.objects.filter(status=BatteryStatus.IN_SERVICE)
    if battery_ids is not None:
        qs = qs.filter(pk__in=list(battery_ids))
    rows = qs.values_list(
        "pk",
        "bank_id",
        "bank__site_id",
        "model__chemistry",
        "model__unit_type",
        "position",
        "dcr_baseline_mohm",
        "model__nominal_voltage",
    )
    cols = [
        "series_id",
        "bank_id",
        "site_id",
        "chemistry",
        "unit_type",
        "position",
        "dcr_baseline",
        "nominal_voltage",
    ]
    frame = pd.DataFrame.from_records(list(rows), columns=cols)
    for col in ("dcr_baseline", "nominal_voltage", "position"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame.set_index("series_id", drop=False)


def load_daily(
    battery_ids: Iterable[int] | None = None, *, since: dt.date | None = None
) -> pd.DataFrame:
    """Long table of daily means with the batteries' attributes (in-service batteries only)."""
    attrs = batteries_frame(battery_ids)
    qs = DailyRollup.objects.filter(battery_id__in=attrs.index.tolist())
    if since is not None:
        qs = qs.filter(bucket__gte=dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC))
    rows = qs.order_by().values_list("battery_id", "bucket", *(f"{v}_avg" for v in VALUES))
    frame = pd.DataFrame.from_records(rows.iterator(chunk_size=20000), columns=list(COLUMNS))
    if frame.empty:
        return frame.assign(
            **{c: pd.Series(dtype=float) for c in attrs.columns if c != "series_id"}
        )
    stamps = pd.to_datetime(frame["day"], utc=True).dt.tz_localize(None)
    frame["day"] = stamps.to_numpy(dtype="datetime64[D]").astype(np.int64)
    for col in VALUES:
        frame[col] = frame[col].astype(float)
    extra = attrs.drop(columns="series_id")
    return frame.join(extra, on="series_id")
