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
from bms_portal.db import prepared_cursor

DEFAULT_SPAN = dt.timedelta(days=1)
CHUNK_ROWS = 5000  # rows per keyset query of iter_raw_readings
INTERVALS = ("raw", "5min", "hour", "day")
#: Length of each downsampling bucket.
BUCKETS = {
    "5min": dt.timedelta(minutes=5),
    "hour": dt.timedelta(hours=1),
    "day": dt.timedelta(days=1),
}
#: Buckets computed from the raw readings on the fly scan at most this range (a month of 10 s
#: scans is ~260,000 rows per unit); hourly and daily battery buckets come from the rollups.
MAX_SCAN_SPAN = dt.timedelta(days=31)
#: At most this many buckets per answer (a year of hours is 8,784).
MAX_BUCKETS = 10_000
_ORIGIN = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # buckets are aligned on UTC midnight


class ParamError(ValueError):
    """A bad query parameter; the message names it and says why (``"name: why"``)."""

    @property
    def param(self) -> str:
        """The parameter the message names (before the first colon)."""
        return str(self).split(":", 1)[0]

    @property
    def reason(self) -> str:
        name, _, why = str(self).partition(": ")
        return why or name


def real(value: float | None) -> float | None:
    """A ``real`` column's value as the decimal the unit sent (6 significant digits, FLT_DIG)."""
    return None if value is None else float(f"{value:.6g}")


def stored_real_sql(column: str) -> str:
    """A value stored as the unit sent it (a reading, a min or max) or as a rollup stores a mean
    (rounded to 6 significant digits, ``storage._mean_sql``), as ``real`` gives it: ``float4``
    prints the shortest decimal that reads back as the same ``real``, which
    for a value of up to 6 significant digits (FLT_DIG) is that value, as ``%.6g`` prints it. No
    trip through ``numeric``: twice as fast (a year of hourly buckets: ~25 ms less). Read it as
    it is (psycopg parses the text): a cast to ``float8`` would bring back the binary noise.
    """
    return f"{column}::float4"


def stored_real_json_sql(column: str) -> str:
    """``stored_real_sql`` as JSON text (``null`` for NULL), for JSON the database builds."""
    return f"coalesce({stored_real_sql(column)}::text, 'null')"


def utc_text_sql(column: str) -> str:
    """A ``timestamptz`` as the text orjson writes for it with ``OPT_UTC_Z``
    (``2026-11-24T08:00:10Z``, ``...:10.123000Z`` with a fraction; NULL stays NULL), for rows
    that go straight to JSON: Django's time-zone-aware loader parses each timestamp in Python
    (~2 us; a site's 254 latest values ~0.5 ms), the database formats it for next to nothing."""
    utc = f"{column} AT TIME ZONE 'UTC'"
    return (
        f"CASE WHEN date_trunc('second', {column}) = {column} "
        f"""THEN to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') """
        f"""ELSE to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END"""
    )


#: Times outside these years are refused: no battery reported before, and the arithmetic on
#: them (default spans, bucket alignment) stays far from datetime's limits.
YEARS = (1970, 2200)
MAX_ID = 2**63 - 1


def parse_time(params: Mapping[str, str], name: str) -> dt.datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    raw = raw.replace(" ", "+")  # an unencoded '+' of an offset arrives as a space
    try:
        value = dt.datetime.fromisoformat(raw)
        if len(raw) == 10:
            value = value.replace(tzinfo=dt.UTC)
    except ValueError:
        raise ParamError(
            f"{name}: {raw!r} is not an ISO 8601 time (e.g. 2026-11-24T04:20:00Z or 2026-11-24)"
        ) from None
    if value.tzinfo is None:
        raise ParamError(f"{name}: {raw!r} has no UTC offset (add Z or +01:00)")
    return _in_years(name, raw, value)


def _in_years(name: str, raw: str, value: dt.datetime) -> dt.datetime:
    if not YEARS[0] < value.year < YEARS[1]:
        raise ParamError(f"{name}: {raw!r} is outside the years {YEARS[0]}-{YEARS[1]}")
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
    if not 0 < value <= MAX_ID:
        raise ParamError(f"{name}: {raw!r} is not an id (a positive integer)")
    return value


def parse_parameters(params: Mapping[str, str], allowed: Sequence[str]) -> list[str]:
    raw = params.get("parameters")
    if not raw:
        return list(allowed)
    names = list(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))
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


_RAW_TABLES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "battery": ("acquisition_reading", "battery_id", (*BMU_PARAMETERS, "status")),
    "bank": ("acquisition_bankreading", "bank_id", (*CMU_PARAMETERS, "status")),
}


def raw_readings(
    kind: str,
    unit_id: int,
    start: dt.datetime,
    end: dt.datetime,
    parameters: Sequence[str],
    *,
    after: dt.datetime | None = None,
    limit: int = 5000,
    rounded: bool = False,
) -> list[tuple[Any, ...]]:
    """Rows (ts, *parameters) of one battery or bank in [start, end), after ``after`` (keyset);
    ``rounded``: values already passed through ``real`` (in SQL).

    Served by the primary key (unit, ts) of each day's partition; partitions outside the range
    are pruned by the planner.
    """
    table, key, allowed = _RAW_TABLES[kind]
    cols = [p for p in parameters if p in allowed]  # names checked: safe to format in
    if rounded:
        cols = [p if p == "status" else stored_real_sql(p) for p in cols]
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


def floor_to_bucket(ts: dt.datetime, interval: str) -> dt.datetime:
    """The start of the ``interval`` bucket holding ``ts`` (buckets aligned on UTC midnight)."""
    size = BUCKETS[interval]
    return ts - (ts - _ORIGIN) % size


def check_bucket_range(start: dt.datetime, end: dt.datetime, interval: str, *, scan: bool) -> None:
    """Refuse (ParamError) a range too long for one answer: too many buckets, or too many raw
    rows to aggregate on the fly (``scan``)."""
    if scan and end - start > MAX_SCAN_SPAN:
        raise ParamError(
            f"start: interval={interval} covers at most {MAX_SCAN_SPAN.days} days here; "
            "ask for a shorter range or a longer interval"
        )
    if (end - floor_to_bucket(start, interval)) / BUCKETS[interval] > MAX_BUCKETS:
        raise ParamError(
            f"start: at most {MAX_BUCKETS} buckets per request; shorten the range or use a "
            "longer interval"
        )


def _select(first: Sequence[str], parameters: Sequence[str], template: str) -> str:
    return ", ".join([*first, *(template.format(p=p) for p in parameters)])


def _bucket_sql(
    kind: str,
    unit_id: int,
    start: dt.datetime,
    end: dt.datetime,
    parameters: Sequence[str],
    interval: str,
) -> tuple[str, list[Any], list[str]]:
    """The bucket query (columns ``bucket, n, {p}_min, {p}_avg, {p}_max``), its params and the
    parameters it covers."""
    first = floor_to_bucket(start, interval)
    if kind == "battery" and interval in ("hour", "day"):
        cols = [p for p in parameters if p in BMU_PARAMETERS]  # names checked: safe to format in
        table = "acquisition_hourlyrollup" if interval == "hour" else "acquisition_dailyrollup"
        select = _select(["bucket", "n"], cols, "{p}_min, {p}_avg, {p}_max")
        sql = (
            f"SELECT {select} FROM {table} "  # noqa: S608
            "WHERE battery_id = %s AND bucket >= %s AND bucket < %s ORDER BY bucket"
        )
        return sql, [unit_id, first, end], cols
    table, key, allowed = _RAW_TABLES[kind]
    cols = [p for p in parameters if p in allowed and p != "status"]
    select = _select(
        ["date_bin(%s, ts, %s) AS bucket", "count(*) AS n"],
        cols,
        "min({p}) AS {p}_min, avg({p}) AS {p}_avg, max({p}) AS {p}_max",
    )
    sql = (
        f"SELECT {select} "  # noqa: S608
        f"FROM {table} WHERE {key} = %s AND ts >= %s AND ts < %s "
        "GROUP BY bucket ORDER BY bucket"
    )
    return sql, [BUCKETS[interval], _ORIGIN, unit_id, first, end], cols


def bucket_readings(
    kind: str,
    unit_id: int,
    start: dt.datetime,
    end: dt.datetime,
    parameters: Sequence[str],
    interval: str,
) -> list[tuple[Any, ...]]:
    """Rows (bucket, n, then min, avg, max of each parameter) of one unit in [start, end).

    Hourly and daily buckets of a battery come from its rollups; the others (5-minute buckets,
    banks) are aggregated from the raw readings with ``date_bin``.
    """
    sql, params, _ = _bucket_sql(kind, unit_id, start, end, parameters, interval)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def bucket_json(
    kind: str,
    unit_id: int,
    start: dt.datetime,
    end: dt.datetime,
    parameters: Sequence[str],
    interval: str,
) -> str:
    """The buckets of ``bucket_readings`` as one JSON array, built by the database in one query:
    ``[{"ts": "...Z", "n": 40, "voltage": {"min": 13.5, "avg": 13.51, "max": 13.52}}, ...]``,
    values as ``real`` gives them. A year of hourly buckets is ~2.4 MB; building it row by row in
    Python (a float object and a rounding per value) took ~10x as long.
    """
    sql, params, cols = _bucket_sql(kind, unit_id, start, end, parameters, interval)
    parts = [
        '\'{"ts":"\' || to_char(bucket AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS"Z"\')',
        '\'","n":\' || n',
    ]
    for p in cols:  # names checked: safe to format in
        parts.append(
            f'\',"{p}":{{"min":\' || {stored_real_json_sql(p + "_min")} '
            f"|| ',\"avg\":' || {stored_real_json_sql(p + '_avg')} "
            f"|| ',\"max\":' || {stored_real_json_sql(p + '_max')} || '}}'"
        )
    item = " || ".join([*parts, "'}'"])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT '[' || coalesce(string_agg({item}, ',' ORDER BY bucket), '') || ']' "  # noqa: S608
            f"FROM ({sql}) AS q",
            params,
        )
        return cursor.fetchone()[0]


def latest_rows(
    bank_sql: str, bank_params: Sequence[Any], battery_status: str, default_stale_s: float
) -> list[tuple[Any, ...]]:
    """The latest values of the banks ``bank_sql`` selects (ids) and of their batteries in
    ``battery_status``, in one query, values through ``real``: rows (bank id, name, ts,
    *CMU_PARAMETERS, status, stale, battery id, position, ts, *BMU_PARAMETERS, status, stale),
    one per battery (battery columns NULL for a bank without any), ordered by bank name and
    battery position. Latest rows are joined on their primary keys (bank, battery).

    ``stale``: not reported for the gateway's heartbeat plus three scans (``default_stale_s``
    without a gateway), or never. Times come as ISO 8601 text (``utc_text_sql``).
    """

    def values(alias: str, params: Sequence[str]) -> str:
        return ", ".join(stored_real_sql(f"{alias}.{p}") for p in params)

    def stale(reading: str, gateway: str) -> str:
        return (
            f"({reading}.ts IS NULL OR now() - {reading}.ts > make_interval(secs => CASE WHEN "
            f"{gateway}.id IS NULL THEN {float(default_stale_s)} "
            f"ELSE {gateway}.heartbeat_s + 3 * {gateway}.scan_interval_s END))"
        )

    sql = (
        f"SELECT k.id, k.name, {utc_text_sql('lk.ts')}, {values('lk', CMU_PARAMETERS)}, "  # noqa: S608
        f"lk.status, {stale('lk', 'gk')}, b.id, b.position, {utc_text_sql('lb.ts')}, "
        f"{values('lb', BMU_PARAMETERS)}, "
        f"lb.status, {stale('lb', 'gb')} "
        "FROM sites_bank k "
        "LEFT JOIN acquisition_latestbankreading lk ON lk.bank_id = k.id "
        "LEFT JOIN sites_bus uk ON uk.id = k.bus_id "
        "LEFT JOIN sites_gateway gk ON gk.id = uk.gateway_id "
        "LEFT JOIN sites_battery b ON b.bank_id = k.id AND b.status = %s "
        "LEFT JOIN acquisition_latestreading lb ON lb.battery_id = b.id "
        "LEFT JOIN sites_bus ub ON ub.id = b.bus_id "
        "LEFT JOIN sites_gateway gb ON gb.id = ub.gateway_id "
        f"WHERE k.id IN ({bank_sql}) ORDER BY k.name, k.id, b.position, b.id"
    )
    with prepared_cursor() as cursor:  # planning this query costs more than running it
        cursor.execute(sql, [battery_status, *bank_params])
        return cursor.fetchall()
