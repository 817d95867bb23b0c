"""Readings storage: daily partitions, the COPY path, latest values and rollups (raw SQL).

Everything here is plain SQL on purpose: the readings tables are partitioned (Django cannot model
that) and written at fleet rate, where the ORM's per-row overhead would be the bottleneck (see
DESIGN.md "Pitfalls": binary COPY ~420k rows/s against bulk_create ~26k). docs/storage.md explains
the schema and the choices.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson
from django.db import connection, transaction

from acquisition.registermap import BMU_PARAMETERS, CMU_PARAMETERS
from bms_portal import db

log = logging.getLogger(__name__)

READING_TABLE = "acquisition_reading"
BANK_READING_TABLE = "acquisition_bankreading"
PARTITIONED_TABLES = (READING_TABLE, BANK_READING_TABLE)
_PARTITION_RE = re.compile(r"_p(\d{8})$")

READING_COLUMNS = ("battery_id", "ts", *BMU_PARAMETERS, "status")
BANK_COLUMNS = ("bank_id", "ts", *CMU_PARAMETERS, "status")
READING_TYPES = ("int4", "timestamptz", *("float4",) * len(BMU_PARAMETERS), "int2")
BANK_TYPES = ("int4", "timestamptz", *("float4",) * len(CMU_PARAMETERS), "int2")

STAGE_READING = "acq_stage_reading"
STAGE_BANK = "acq_stage_bankreading"
LATEST_TABLE = "acquisition_latestreading"
LATEST_BANK_TABLE = "acquisition_latestbankreading"

#: Days whose partitions (of both tables) this process created or saw. Only the ingest trusts it
#: (``ensure_partitions_for(..., cached=True)``); a partition that vanished anyway (dropped, or its
#: creation rolled back) surfaces as ``MISSING_PARTITION`` on write, and the ingest re-checks.
_partition_days: set[dt.date] = set()
UNIQUE_VIOLATION = "23505"  # SQLSTATE of a duplicate (unit, ts): a retried batch
MISSING_PARTITION = "23514"  # "no partition of relation ... found for row"

Progress = Callable[[str], None]


# -- partitions ------------------------------------------------------------------------------------


def partition_name(table: str, day: dt.date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def _utc_midnight(day: dt.date) -> str:
    return f"{day.isoformat()} 00:00:00+00"


def _create_partition(cursor: Any, table: str, day: dt.date) -> str:
    name = partition_name(table, day)
    # Serialise creators (ingest workers, the daily task): a concurrent CREATE ... IF NOT EXISTS of
    # the same table can still fail on the catalog's unique index; the lock makes the second one a
    # no-op that sees the first one's table.
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
        f"FOR VALUES FROM ('{_utc_midnight(day)}') TO ('{_utc_midnight(day + dt.timedelta(1))}')"
    )
    return name


def existing_partitions(table: str) -> dict[dt.date, str]:
    """Day -> partition name of ``table`` (other names than ``<table>_pYYYYMMDD`` skipped)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = %s",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    days = {}
    for name in names:
        match = _PARTITION_RE.search(name)
        if match:
            days[dt.datetime.strptime(match.group(1), "%Y%m%d").date()] = name  # noqa: DTZ007
    return days


def ensure_partitions_for(days: Iterable[dt.date], *, cached: bool = False) -> list[str]:
    """Create the missing daily partitions of both tables for ``days``; one query when none is.

    Called by the ingest before its transaction, so a partition is created (and its lock on the
    parent released) in a short transaction of its own. With ``cached`` (the ingest), days this
    process already checked cost no query at all.
    """
    wanted = sorted(set(days))
    if cached:
        wanted = [d for d in wanted if d not in _partition_days]
    if not wanted:
        return []
    names = [partition_name(t, d) for d in wanted for t in PARTITIONED_TABLES]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n FROM unnest(%s::text[]) AS n WHERE to_regclass(n) IS NULL", [names]
        )
        missing = {row[0] for row in cursor.fetchall()}
        created = []
        for day in wanted:
            for table in PARTITIONED_TABLES:
                if partition_name(table, day) in missing:
                    created.append(_create_partition(cursor, table, day))
    _partition_days.update(wanted)
    if created:
        log.info("created partitions %s", ", ".join(created))
    return created


def ensure_partitions(
    days_ahead: int = 7,
    *,
    days_back: int = 0,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> list[str]:
    """Create daily partitions from ``today - days_back`` to ``today + days_ahead`` (idempotent)."""
    today = today or dt.datetime.now(dt.UTC).date()
    days = [today + dt.timedelta(n) for n in range(-days_back, days_ahead + 1)]
    created = ensure_partitions_for(days)
    if progress:
        for name in created:
            progress(f"created {name}")
    return created


def drop_old_partitions(
    retention_days: int, *, today: dt.date | None = None, progress: Progress | None = None
) -> list[str]:
    """Drop the partitions whose whole day is older than ``retention_days`` (0 keeps everything).

    The ingest rejects readings older than the same window, so it never needs a dropped partition.
    """
    if retention_days <= 0:
        return []
    _partition_days.clear()
    today = today or dt.datetime.now(dt.UTC).date()
    cutoff = today - dt.timedelta(retention_days)
    dropped = []
    with connection.cursor() as cursor:
        for table in PARTITIONED_TABLES:
            for day, name in sorted(existing_partitions(table).items()):
                if day < cutoff:
                    cursor.execute(f"DROP TABLE IF EXISTS {name}")
                    dropped.append(name)
                    if progress:
                        progress(f"dropped {name}")
    if dropped:
        log.info("dropped %d partition(s) older than %s", len(dropped), cutoff)
    return dropped


# -- the COPY path ---------------------------------------------------------------------------------


def _prepare_staging(cursor: Any) -> None:
    """Per-connection TEMP staging tables, emptied at each commit (no catalog churn per request)."""
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGE_READING} "  # noqa: S608 - constant names
        f"(LIKE {READING_TABLE}) ON COMMIT DELETE ROWS; "
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGE_BANK} "
        f"(LIKE {BANK_READING_TABLE}) ON COMMIT DELETE ROWS; "
        # Empty already, except when several batches share one transaction (tests, scripts).
        f"DELETE FROM {STAGE_READING}; DELETE FROM {STAGE_BANK}"
    )


def forget_partitions() -> None:
    """Forget the days checked by ``ensure_partitions_for(cached=True)`` (after a missing one)."""
    _partition_days.clear()


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a psycopg error, also when Django wrapped it."""
    for e in (exc, exc.__cause__):
        state = getattr(e, "sqlstate", None)
        if state:
            return str(state)
    return None


def _copy_rows(
    cursor: Any, table: str, columns: Sequence[str], types: Sequence[str], rows: Iterable[tuple]
) -> None:
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    with cursor.cursor.copy(sql) as copy:  # the psycopg cursor under Django's wrapper
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


def _latest_rows(rows: Sequence[tuple]) -> list[tuple]:
    """The newest row per unit (rows start with (unit id, ts)); usually all of them."""
    newest: dict[int, tuple] = {}
    for row in rows:
        held = newest.get(row[0])
        if held is None or row[1] > held[1]:
            newest[row[0]] = row
    return list(newest.values())


def array_literal(values: Sequence[Any]) -> str:
    """A PostgreSQL array literal of numbers, aware datetimes or None, written by orjson.

    psycopg adapts a list element by element in Python (~7 us per value) and ``repr`` is not much
    cheaper; orjson writes the JSON array in C, and a JSON array of numbers, ``null`` and quoted
    RFC 3339 strings is an array literal once its brackets are braces (``null`` reads as NULL).
    Only for what the ingest produces (int, float, aware datetime, None): nothing here needs
    escaping.
    """
    return "{" + orjson.dumps(values).decode()[1:-1] + "}"


def latest_upsert(rows: Sequence[tuple], *, bank: bool = False) -> tuple[str, list[Any]]:
    """SQL and parameters upserting the newest of ``rows`` into the latest table, from arrays.

    A row only ever replaces an older one (``WHERE excluded.ts > l.ts``), whatever order
    batches arrive in. One statement, so it can share a round trip with others. A batch of one
    scan (the usual one) sends its time once, not as an array of 254 copies. (An ``UPDATE ...
    FROM unnest`` with an insert of the missing units was measured too: no cheaper.)
    """
    table, columns, types = (
        (LATEST_BANK_TABLE, BANK_COLUMNS, BANK_TYPES)
        if bank
        else (LATEST_TABLE, READING_COLUMNS, READING_TYPES)
    )
    latest = _latest_rows(rows)
    stamps = {row[1] for row in latest}
    one_scan = len(stamps) == 1
    named = [c for c in columns if not (one_scan and c == "ts")]
    unnest = ", ".join(
        f"%s::{t}[]" for c, t in zip(columns, types, strict=True) if not (one_scan and c == "ts")
    )
    values = ", ".join("%s::timestamptz" if one_scan and c == "ts" else f"u.{c}" for c in columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in (*columns[1:], "updated"))
    sql = (
        f"INSERT INTO {table} AS l ({', '.join(columns)}, updated) "  # noqa: S608 - constants
        f"SELECT {values}, now() FROM unnest({unnest}) AS u({', '.join(named)}) "
        f"ON CONFLICT ({columns[0]}) DO UPDATE SET {updates} WHERE excluded.ts > l.ts"
    )
    arrays = [
        array_literal(col)
        for i, col in enumerate(zip(*latest, strict=True))
        if not (one_scan and i == 1)
    ]
    return sql, [stamps.pop(), *arrays] if one_scan else arrays


def copy_readings(
    battery_rows: Sequence[tuple], bank_rows: Sequence[tuple], *, savepoint: bool = True
) -> None:
    """Binary COPY straight into the partitioned tables: the ingest's common case.

    In autocommit mode the COPY is a transaction of its own. Inside a transaction it runs in a
    savepoint, so a failure does not abort the caller's transaction, unless ``savepoint=False``
    (the ingest, whose own transaction holds just this batch). A row already stored (a retried
    batch) fails the whole COPY with ``UNIQUE_VIOLATION`` and stores nothing: use
    ``store_batch`` (staging and ``INSERT ... ON CONFLICT DO NOTHING``) then. A day without
    partition: ``MISSING_PARTITION``.
    """
    nested = savepoint and connection.in_atomic_block
    guard = transaction.atomic() if nested else contextlib.nullcontext()
    with guard, connection.cursor() as cursor:
        if battery_rows:
            _copy_rows(cursor, READING_TABLE, READING_COLUMNS, READING_TYPES, battery_rows)
        if bank_rows:
            _copy_rows(cursor, BANK_READING_TABLE, BANK_COLUMNS, BANK_TYPES, bank_rows)


def latest_statements(
    battery_rows: Sequence[tuple], bank_rows: Sequence[tuple]
) -> list[tuple[str, list[Any]]]:
    """The latest-value upserts of a batch, for ``run_statements``."""
    out = []
    if battery_rows:
        out.append(latest_upsert(battery_rows))
    if bank_rows:
        out.append(latest_upsert(bank_rows, bank=True))
    return out


def run_statements(statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple] | None]:
    """Run ``statements`` in one round trip; return each one's rows (None: it returns none).
    Prepared and pipelined, or one multi-statement query: ``bms_portal.db.run_statements``."""
    return db.run_statements(statements)


def _insert_from_stage(cursor: Any, stage: str, table: str, columns: Sequence[str]) -> int:
    cols = ", ".join(columns)
    cursor.execute(
        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT DO NOTHING"  # noqa: S608
    )
    return max(cursor.rowcount, 0)


def _upsert_latest(cursor: Any, stage: str, latest: str, columns: Sequence[str]) -> None:
    """One multi-row upsert per batch; a row only ever replaces an older one."""
    key = columns[0]
    cols = ", ".join(columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in (*columns[1:], "updated"))
    cursor.execute(
        f"INSERT INTO {latest} AS l ({cols}, updated) "  # noqa: S608
        f"SELECT DISTINCT ON ({key}) {cols}, now() FROM {stage} ORDER BY {key}, ts DESC "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates} WHERE excluded.ts > l.ts"
    )


def store_batch(battery_rows: Sequence[tuple], bank_rows: Sequence[tuple]) -> tuple[int, int]:
    """COPY rows into staging, insert what is new, upsert the latest tables.

    Rows follow ``READING_COLUMNS`` / ``BANK_COLUMNS``. Returns (rows inserted, rows staged):
    a retried batch inserts nothing, its rows count as duplicates. Must run inside a transaction
    (the staging tables empty themselves at commit).
    """
    inserted = 0
    with connection.cursor() as cursor:
        _prepare_staging(cursor)
        for rows, stage, table, latest, columns, types in (
            (
                battery_rows,
                STAGE_READING,
                READING_TABLE,
                "acquisition_latestreading",
                READING_COLUMNS,
                READING_TYPES,
            ),
            (
                bank_rows,
                STAGE_BANK,
                BANK_READING_TABLE,
                "acquisition_latestbankreading",
                BANK_COLUMNS,
                BANK_TYPES,
            ),
        ):
            if not rows:
                continue
            _copy_rows(cursor, stage, columns, types, rows)
            inserted += _insert_from_stage(cursor, stage, table, columns)
            _upsert_latest(cursor, stage, latest, columns)
    return inserted, len(battery_rows) + len(bank_rows)


# -- rollups ---------------------------------------------------------------------------------------

_STAT_COLUMNS = [f"{p}_{s}" for p in BMU_PARAMETERS for s in ("min", "avg", "max")]


def _mean_sql(expression: str) -> str:
    """A mean as it is stored: rounded to 6 significant digits (``float4 -> numeric`` prints
    ``%.6g``), the precision of the ``real`` values it averages. Stored like that, the read API
    prints it as it prints a reading (``::float4``, shortest text) instead of rounding every mean
    of a year of buckets on each request (~10 ms of a ~35 ms query)."""
    return f"({expression})::float4::numeric::float8"


_FROM_RAW = ", ".join(f"min({p}), {_mean_sql(f'avg({p})')}, max({p})" for p in BMU_PARAMETERS)
#: Daily from hourly: min of mins, max of maxes, the hourly means weighted by their reading count.
_FROM_HOURLY = ", ".join(
    f"min({p}_min), "
    f"{_mean_sql(f'sum({p}_avg * n) / nullif(sum(n) FILTER (WHERE {p}_avg IS NOT NULL), 0)')}, "
    f"max({p}_max)"
    for p in BMU_PARAMETERS
)


def rollup(
    unit: str, start: dt.datetime, end: dt.datetime, battery_ids: Sequence[int] | None = None
) -> int:
    """(Re)compute the ``unit`` ("hour" or "day") rollups of the buckets in [start, end).

    Hours come from the raw readings, days from the hourly rollups (24 rows per battery instead
    of a day of readings), so roll the hours up first. Idempotent: a bucket is recomputed and
    replaces its old row, so running it twice, or again after late data arrived, gives the same
    result. ``start`` is truncated to its bucket (UTC). Returns the rows written.
    """
    if unit == "hour":
        table, source, stats, ts, count = (
            "acquisition_hourlyrollup",
            READING_TABLE,
            _FROM_RAW,
            "ts",
            "count(*)",
        )
    elif unit == "day":
        table, source, stats, ts, count = (
            "acquisition_dailyrollup",
            "acquisition_hourlyrollup",
            _FROM_HOURLY,
            "bucket",
            "sum(n)",
        )
    else:
        raise ValueError(f"unit must be 'hour' or 'day', not {unit!r}")
    cols = ", ".join(_STAT_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in ("n", *_STAT_COLUMNS))
    where = f"{ts} >= date_trunc(%(unit)s, %(start)s::timestamptz, 'UTC') AND {ts} < %(end)s"
    params: dict[str, Any] = {"unit": unit, "start": start, "end": end}
    if battery_ids is not None:
        where += " AND battery_id = ANY(%(ids)s)"
        params["ids"] = list(battery_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (battery_id, bucket, n, {cols}) "  # noqa: S608
            f"SELECT battery_id, date_trunc(%(unit)s, {ts}, 'UTC') AS b, {count}, {stats} "
            f"FROM {source} WHERE {where} GROUP BY battery_id, b "
            f"ON CONFLICT (battery_id, bucket) DO UPDATE SET {updates}",
            params,
        )
        return max(cursor.rowcount, 0)


def backfill_rollups(
    start: dt.datetime, end: dt.datetime, *, progress: Progress | None = None
) -> tuple[int, int]:
    """Recompute hourly and daily rollups of every battery for [start, end), a day at a time."""
    hours = days = 0
    day = start.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        nxt = day + dt.timedelta(days=1)
        hours += rollup("hour", max(day, start), min(nxt, end))
        days += rollup("day", day, nxt)
        if progress:
            progress(f"rolled up {day:%Y-%m-%d}")
        day = nxt
    return hours, days


def gateway_battery_ids(gateway_ids: Sequence[int]) -> dict[int, list[int]]:
    """All batteries (any status) on the buses of each gateway: whose readings it may have sent."""
    out: dict[int, list[int]] = {g: [] for g in gateway_ids}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bus.gateway_id, b.id FROM sites_battery b "
            "JOIN sites_bus bus ON bus.id = b.bus_id WHERE bus.gateway_id = ANY(%s)",
            [list(gateway_ids)],
        )
        for gateway_id, battery_id in cursor.fetchall():
            out[gateway_id].append(battery_id)
    return out


def rollup_queued(now: dt.datetime | None = None) -> int:
    """Roll up the queued hours that are closed; claimed with DELETE ... RETURNING.

    Run inside a transaction: if the rollup fails, the claimed queue rows come back.
    """
    now = now or dt.datetime.now(dt.UTC)
    current_hour = now.replace(minute=0, second=0, microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM acquisition_rollupqueue WHERE hour < %s RETURNING gateway_id, hour",
            [current_hour],
        )
        claimed = cursor.fetchall()
    if not claimed:
        return 0
    batteries = gateway_battery_ids(sorted({g for g, _ in claimed}))
    written = 0
    days: dict[tuple[int, dt.date], dt.datetime] = {}
    for gateway_id, hour in sorted(claimed, key=lambda r: (r[1], r[0])):
        ids = batteries[gateway_id]
        written += rollup("hour", hour, hour + dt.timedelta(hours=1), ids)
        hour_utc = hour.astimezone(dt.UTC)
        days[(gateway_id, hour_utc.date())] = hour_utc.replace(hour=0)
    for (gateway_id, _), day in sorted(days.items()):
        written += rollup("day", day, day + dt.timedelta(days=1), batteries[gateway_id])
    return written
