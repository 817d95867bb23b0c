"""deploy/backup.sh + deploy/restore.sh round trip: dump the test database (with a fleet, its
readings and audit rows), restore into a new database on the same server, compare every table's
row count. Uses pg_dump/pg_restore/psql from PATH (Debian's PostgreSQL client tools)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.acquisition.conftest import body, full_scan, make_gateway_setup, now_ms, post
from tests.conftest import database_url_for_subprocess

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def _require_tools() -> None:
    """Skip unless pg_dump/pg_restore/psql are on PATH and can dump this server's version."""
    if not all(shutil.which(tool) for tool in ("pg_dump", "pg_restore", "psql")):
        pytest.skip("pg_dump, pg_restore or psql not on PATH (apt-get install postgresql-client)")
    out = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True).stdout
    match = re.search(r"(\d+)\.", out)
    client_major = int(match.group(1)) if match else 0
    with connection.cursor() as cursor:
        server_major = cursor.connection.info.server_version // 10000
    if client_major < server_major:
        pytest.skip(f"pg_dump {client_major} cannot dump a PostgreSQL {server_major} server")


def _run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _counts(url: str) -> dict[str, int]:
    out = _run("deploy/restore.sh", "--counts", url)
    return {name: int(n) for name, n in (line.split() for line in out.splitlines() if line)}


def test_a_backup_restores_into_a_new_database_with_every_row(client: Any, tmp_path: Path) -> None:
    _require_tools()
    setup = make_gateway_setup(batteries=6)
    for i in range(3):
        ts = now_ms().replace(second=0) - dt.timedelta(minutes=5 - i)
        assert (
            post(client, setup.token, body(full_scan(setup, ts), batch=f"b{i}")).status_code == 200
        )
    source = database_url_for_subprocess()
    target_name = f"bms_restore_{uuid.uuid4().hex[:10]}"
    noquery, _, query = source.partition("?")
    target = noquery.rsplit("/", 1)[0] + "/" + target_name + (f"?{query}" if query else "")

    dump = _run("deploy/backup.sh", "--dir", str(tmp_path), "--url", source).strip()
    try:
        _run("deploy/restore.sh", dump, target, "--create")
        restored, original = _counts(target), _counts(source)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{target_name}" WITH (FORCE)')

    assert Path(dump + ".sha256").exists()
    assert restored == original
    # this test's 18 readings at least: transactional tests before it may have left readings in
    # the raw-SQL partitions, which Django's flush between tests does not empty
    assert sum(n for t, n in restored.items() if t.startswith("acquisition_reading_p")) >= 18
    assert restored["sites_gateway"] == 1


def test_restore_refuses_a_database_that_has_tables(tmp_path: Path) -> None:
    _require_tools()
    source = database_url_for_subprocess()
    dump = _run("deploy/backup.sh", "--dir", str(tmp_path), "--url", source, "--no-readings")
    result = subprocess.run(
        ["deploy/restore.sh", dump.strip(), source], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 1
    assert "restore into a new database" in result.stderr
