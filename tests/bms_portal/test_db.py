"""Prepared statements for the hot read queries (bms_portal/db.py)."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.test import override_settings

from bms_portal.db import prepared_cursor


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
