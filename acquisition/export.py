"""CSV export of readings: rows generated chunk by chunk so memory stays flat for any range.

Each unit's rows are read in keyset chunks (query.iter_raw_readings), so no server-side cursor or
transaction stays open while a slow client downloads. Times are given twice: UTC (ISO 8601, ``Z``)
and the site's local time with its offset, which is what people on site compare with.
"""

from __future__ import annotations

import csv
import datetime as dt
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from acquisition.query import iter_raw_readings, real
from acquisition.registermap import BMU_PARAMETERS, CMU_PARAMETERS
from acquisition.validation import UNITS

_UNIT_SUFFIX = {"V": "v", "C": "c", "mOhm": "mohm", "A": "a"}


def column_name(parameter: str) -> str:
    """``voltage`` -> ``voltage_v``, ``dcr`` -> ``dcr_mohm``: the unit is in the header."""
    return f"{parameter}_{_UNIT_SUFFIX[UNITS[parameter]]}"


class _Line:
    """A file-like object whose ``write`` returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def _stamp(ts: dt.datetime, tz: zoneinfo.ZoneInfo) -> tuple[str, str]:
    utc = ts.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return utc, ts.astimezone(tz).isoformat(timespec="milliseconds")


def _header(parameters: Sequence[str]) -> list[str]:
    return [p if p == "status" else column_name(p) for p in parameters]


def _values(parameters: Sequence[str], values: Sequence[Any]) -> list[Any]:
    return [
        ("" if v is None else v) if p == "status" else _fmt(v)
        for p, v in zip(parameters, values, strict=True)
    ]


def battery_csv(
    units: Iterable[tuple[int, int, int, zoneinfo.ZoneInfo]],
    start: dt.datetime,
    end: dt.datetime,
    parameters: Sequence[str] | None = None,
) -> Iterator[str]:
    """CSV lines for batteries given as (battery id, bank id, position, site time zone); every
    parameter and the status unless ``parameters`` names some."""
    writer: Any = csv.writer(_Line())
    params: Sequence[str] = parameters or (*BMU_PARAMETERS, "status")
    yield writer.writerow(
        ["battery_id", "bank_id", "position", "ts_utc", "ts_local", *_header(params)]
    )
    for battery_id, bank_id, position, tz in units:
        for ts, *values in iter_raw_readings("battery", battery_id, start, end, params):
            yield writer.writerow(
                [battery_id, bank_id, position, *_stamp(ts, tz), *_values(params, values)]
            )


def bank_csv(
    units: Iterable[tuple[int, zoneinfo.ZoneInfo]],
    start: dt.datetime,
    end: dt.datetime,
    parameters: Sequence[str] | None = None,
) -> Iterator[str]:
    """CSV lines of string (CMU) readings for banks given as (bank id, site time zone)."""
    writer: Any = csv.writer(_Line())
    params: Sequence[str] = parameters or (*CMU_PARAMETERS, "status")
    yield writer.writerow(["bank_id", "ts_utc", "ts_local", *_header(params)])
    for bank_id, tz in units:
        for ts, *values in iter_raw_readings("bank", bank_id, start, end, params):
            yield writer.writerow([bank_id, *_stamp(ts, tz), *_values(params, values)])


def bucket_csv(
    id_column: str,
    unit_id: int,
    rows: Iterable[Sequence[Any]],
    parameters: Sequence[str],
    tz: zoneinfo.ZoneInfo,
) -> Iterator[str]:
    """CSV lines of downsampled readings: rows (bucket, n, then min, avg, max per parameter) as
    ``query.bucket_readings`` returns them; ``ts`` is the start of each bucket."""
    writer: Any = csv.writer(_Line())
    stats = [f"{column_name(p)}_{s}" for p in parameters for s in ("min", "avg", "max")]
    yield writer.writerow([id_column, "ts_utc", "ts_local", "n", *stats])
    for bucket, n, *values in rows:
        yield writer.writerow([unit_id, *_stamp(bucket, tz), n, *(_fmt(v) for v in values)])


def _fmt(value: float | None) -> str:
    return "" if value is None else repr(real(value))
