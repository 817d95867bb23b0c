"""Reading the stored readings back: query-parameter parsing and the queries the read API and the
CSV export share.

Parameters are parsed here once, with errors that name the parameter (``ParamError``), so the API
(400 JSON) and the export (400 text) say the same thing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.db import connection

from acquisition.registermap import BMU_PARAMETERS, CMU_PARAMETERS

DEFAULT_SPAN = dt.timedelta(days=1)
CHUNK_ROWS = 5000  # rows per keyset query of iter_raw_readings
INTERVALS = ("raw", "hour", "day")


class ParamError(ValueError):
    """A bad query parameter; the message names it and says why."""


def real(value: float | None) -> float | None:
    """A ``real`` column's value as the decimal the unit sent (6 significant digits, FLT_DIG)."""
    return None if value is None else float(f"{value:.6g}")


def parse_time(params: Mapping[str, str], name: str) -> dt.datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    raw = raw.replace(" ", "+")  # an unencoded '+' of an offset arrives as a space
    try:
        if len(raw) == 10:
            return dt.datetime.fromisoformat(raw).replace(tzinfo=dt.UTC)
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ParamError(
            f"{name}: {raw!r} is not an ISO 8601 time (e.g. 2026-11-24T04:20:00Z or 2026-11-24)"
        ) from None
    if value.tzinfo is None:
        raise ParamError(f"{name}: {raw!r} has no UTC offset (add Z or +01:00)")
    return value.astimezone(dt.UTC)


def parse_range(
    params: Mapping[str, str], *, default_span: dt.timedelta = DEFAULT_SPAN
) -> tuple[dt.datetime, dt.datetime]:
    """``start`` / ``end`` (end defaults to now, start to ``default_span`` before end)."""
    end = parse_time(params, "end") or dt.datetime.now(dt.UTC)
    start = parse_time(params, "start") or end - default_span
    if start >= end:
        raise ParamError("start: must be before end")
    return start, end


def parse_id(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ParamError(f"{name}: {raw!r} is not an id (a positive integer)") from None
    if value <= 0:
        raise ParamError(f"{name}: {raw!r} is not an id (a positive integer)")
    return value


def parse_parameters(params: Mapping[str, str], allowed: Sequence[str]) -> list[str]:
    raw = params.get("parameters")
    if not raw:
        return list(allowed)
    names = [p.strip() for p in raw.split(",") if p.strip()]
    unknown = [p for p in names if p not in allowed]
    if unknown or not names:
        bad = ", ".join(unknown) or "(empty)"
        raise ParamError(f"parameters: unknown {bad}; choose from {', '.join(allowed)}")
    return names


def parse_interval(params: Mapping[str, str]) -> str:
    interval = params.get("interval") or "raw"
    if interval not in INTERVALS:
        raise ParamError(f"interval: {interval!r} is not one of {', '.join(INTERVALS)}")
    return interval


def raw_readings(
    kind: str,
    unit_id: int,
    start: dt.datetime,
    end: dt.datetime,
    parameters: Sequence[str],
    *,
    after: dt.datetime | None = None,
    limit: int = 5000,
) -> list[tuple[Any, ...]]:
    """Rows (ts, *parameters) of one battery or bank in [start, end), after ``after`` (keyset).

    Served by the primary key (unit, ts) of each day's partition; partitions outside the range
    are pruned by the planner.
    """
    table, key, allowed = {
        "battery": ("acquisition_reading", "battery_id", (*BMU_PARAMETERS, "status")),
        "bank": ("acquisition_bankreading", "bank_id", (*CMU_PARAMETERS, "status")),
    }[kind]
    cols = [p for p in parameters if p in allowed]  # names checked: safe to format in
    select = ", ".join(["ts", *cols])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {select} FROM {table} WHERE {key} = %s AND ts >= %s AND ts < %s "  # noqa: S608
            f"AND ts > %s ORDER BY ts LIMIT %s",
            [unit_id, start, end, after or start - dt.timedelta(microseconds=1), limit],
        )
        return cursor.fetchall()


def iter_raw_readings(
    kind: str,
    unit_id: int,
    start: dt.datetime,
    end: dt.datetime,
    parameters: Sequence[str],
    *,
    chunk: int | None = None,
) -> Iterator[tuple[Any, ...]]:
    """All rows of one unit in [start, end), fetched in keyset chunks: flat memory, short
    queries, no cursor held open while a slow client downloads."""
    chunk = chunk or CHUNK_ROWS
    after = None
    while True:
        rows = raw_readings(kind, unit_id, start, end, parameters, after=after, limit=chunk)
        yield from rows
        if len(rows) < chunk:
            return
        after = rows[-1][0]
