"""Prepared statements for the hot queries, and several statements in one round trip
(bms_portal/db.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import override_settings

from bms_portal.db import prepared_cursor, run_statements


def _prepared(fragment: str) -> list[tuple[int, int]]:
    """(generic plans, custom plans) of this connection's prepared statements containing
    ``fragment``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE %s",
            [f"%{fragment}%"],
        )
        return list(cursor.fetchall())


def test_a_hot_query_is_prepared_once_and_then_reused(db: Any) -> None:
    for n in range(8):
        with prepared_cursor() as cursor:
            cursor.execute("SELECT %s::int + 1 AS bms_prepared_probe", [n])
            assert cursor.fetchone() == (n + 1,)
    [(generic, custom)] = _prepared("bms_prepared_probe")
    assert generic + custom == 8  # one statement on this connection, executed 8 times


def test_prepared_statements_can_be_switched_off(db: Any) -> None:
    with override_settings(DB_PREPARED_STATEMENTS=False), prepared_cursor() as cursor:
        cursor.execute("SELECT %s::int AS bms_unprepared_probe", [1])
        assert cursor.fetchone() == (1,)
    assert _prepared("bms_unprepared_probe") == []


def test_prepared_queries_are_counted_like_any_other(
    db: Any, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(1), prepared_cursor() as cursor:
        cursor.execute("SELECT 1 AS bms_counted_probe")


def _statements(tag: str, n: int) -> list[tuple[str, list[Any]]]:
    # ``tag``: a test's own table name, not input.
    return [
        (f"CREATE TEMP TABLE IF NOT EXISTS {tag} (n int, label text)", []),
        (f"INSERT INTO {tag} SELECT g, %s FROM generate_series(1, %s) g", ["row", n]),  # noqa: S608
        (f"UPDATE {tag} SET label = %s WHERE n > %s RETURNING n", ["big", 1]),  # noqa: S608
        (f"SELECT count(*), max(label) FROM {tag} WHERE label = %s", ["big"]),  # noqa: S608
    ]


@pytest.mark.parametrize("prepared", [True, False], ids=["pipelined", "multi-statement"])
def test_statements_in_one_round_trip_return_each_ones_rows_in_order(
    db: Any, prepared: bool
) -> None:
    tag = f"bms_rt_probe_{int(prepared)}"
    with override_settings(DB_PREPARED_STATEMENTS=prepared), transaction.atomic():
        results = run_statements(_statements(tag, 3))
    assert results[:2] == [None, None]  # no rows from CREATE and INSERT
    assert sorted(results[2]) == [(2,), (3,)]
    assert results[3] == [(2, "big")]
    assert bool(_prepared(f"UPDATE {tag}")) is prepared


@pytest.mark.parametrize("prepared", [True, False], ids=["pipelined", "multi-statement"])
def test_a_failing_statement_undoes_the_others_and_raises_a_django_error(
    db: Any, prepared: bool
) -> None:
    tag = f"bms_rt_fail_{int(prepared)}"
    run_statements(_statements(tag, 2)[:1])  # the table, outside the failing transaction
    bad = [_statements(tag, 2)[1], ("SELECT 1 / %s", [0]), _statements(tag, 2)[3]]
    with override_settings(DB_PREPARED_STATEMENTS=prepared):
        with pytest.raises(DatabaseError, match="division by zero"), transaction.atomic():
            run_statements(bad)
        with connection.cursor() as cursor:  # the connection is usable, the insert undone
            cursor.execute(f"SELECT count(*) FROM {tag}")  # noqa: S608 - a test's own name
            assert cursor.fetchone() == (0,)
