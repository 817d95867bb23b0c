"""Prepared statements for the few hot queries whose planning costs more than running them.

Django binds parameters client-side and turns psycopg's automatic preparation off
(``prepare_threshold=None``, for connection poolers), so PostgreSQL parses and plans every query
anew. That is right for most queries, but not for a many-join query read on every refresh of a
live table: the latest values of a 254-battery site take ~0.5 ms to run and ~0.9 ms to plan.
``prepared_cursor()`` is a Django cursor (health check, thread check, query logging and counting
as usual) whose queries bind server-side, and settings give the connection a ``prepare_threshold``
of 0, so psycopg prepares them on their connection: parsed once per connection and query text,
then executed with new parameters (PostgreSQL switches to a generic plan when it is no worse).
Django's own cursors bind client-side and are never prepared.

``run_statements()`` sends several statements in one round trip: prepared and pipelined
(psycopg's pipeline mode), or, with prepared statements off, as one multi-statement query. The
ingest's bookkeeping after its COPY is one such batch: seven small statements whose planning cost
more PostgreSQL time than running them (docs/storage.md, "Fourth pass").

Behind PgBouncer in transaction mode this needs PgBouncer >= 1.21 with
``max_prepared_statements`` set; ``DB_PREPARED_STATEMENTS=false`` turns it off
(docs/configuration.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection


@contextmanager
def prepared_cursor() -> Iterator[Any]:
    """``with prepared_cursor() as cursor:``: like ``connection.cursor()``, prepared statements
    (placeholders ``%s`` as usual; one statement per ``execute``)."""
    with connection.cursor() as cursor:  # opens, health-checks and wraps as Django does
        if not settings.DB_PREPARED_STATEMENTS:
            yield cursor
            return
        client_side = cursor.cursor
        cursor.cursor = psycopg.Cursor(client_side.connection)  # binds server-side
        try:
            yield cursor
        finally:
            cursor.cursor.close()
            cursor.cursor = client_side


def run_statements(statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple] | None]:
    """Run ``statements`` (``(sql, params)``, placeholders ``%s``) in one round trip, in order;
    return each one's rows (None for a statement that returns none).

    Call it inside a transaction: the statements are all or nothing with it. An error raises as
    Django's database errors do.

    - Prepared statements on: each statement is prepared on its connection (parsed and planned
      once per connection and query text) and all are sent in one pipeline. Each ``execute`` is
      logged and counted as a query, as Django does.
    - Off: one multi-statement query, bound client-side (simple query protocol), one query.
    """
    if not statements:
        return []
    if not settings.DB_PREPARED_STATEMENTS:
        return _multi_statement(statements)
    with connection.cursor() as wrapper:
        client_side = wrapper.cursor
        raw = client_side.connection
        cursors: list[psycopg.Cursor] = []
        try:
            with connection.wrap_database_errors, raw.pipeline():
                for sql, params in statements:
                    wrapper.cursor = psycopg.Cursor(raw)  # binds server-side: prepared
                    cursors.append(wrapper.cursor)
                    wrapper.execute(sql, params)
            return [list(c.fetchall()) if c.description else None for c in cursors]
        finally:
            for c in cursors:
                c.close()
            wrapper.cursor = client_side


def _multi_statement(statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple] | None]:
    """Django's psycopg cursor binds parameters client-side, so several statements can go in one
    execute (simple query protocol); psycopg returns one result per statement."""
    sql = ";\n".join(s for s, _ in statements)
    params = [p for _, ps in statements for p in ps]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        raw = cursor.cursor
        results: list[list[tuple] | None] = []
        while True:
            results.append(list(raw.fetchall()) if raw.description else None)
            if not raw.nextset():
                return results
