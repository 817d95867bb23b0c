"""Prepared statements for the few hot read queries whose planning costs more than running them.

Django binds parameters client-side and turns psycopg's automatic preparation off
(``prepare_threshold=None``, for connection poolers), so PostgreSQL parses and plans every query
anew. That is right for most queries, but not for a many-join query read on every refresh of a
live table: the latest values of a 254-battery site take ~0.5 ms to run and ~0.9 ms to plan.
``prepared_cursor()`` is a Django cursor (health check, thread check, query logging and counting
as usual) whose queries bind server-side, and settings give the connection a ``prepare_threshold``
of 0, so psycopg prepares them on their connection: parsed once per connection and query text,
then executed with new parameters (PostgreSQL switches to a generic plan when it is no worse).
Django's own cursors bind client-side and are never prepared.

Behind PgBouncer in transaction mode this needs PgBouncer >= 1.21 with
``max_prepared_statements`` set; ``DB_PREPARED_STATEMENTS=false`` turns it off
(docs/configuration.md).
"""

from __future__ import annotations

from collections.abc import Iterator
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
