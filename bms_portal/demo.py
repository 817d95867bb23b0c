"""``make demo``: migrate, seed, and run every process of the product on this machine.

Runs under ``bms_portal.embedded_db`` (which provides ``DATABASE_URL``). Before the processes, it
runs the simulators' accelerated ageing over the two years before today (``simulate_history``) and
trains and runs the forecasts (``forecast``), so the pages have history, forecasts and a diagnosed
fault from the first minute. Starts the web server
(gunicorn) on http://127.0.0.1:8000, Celery worker and beat when Redis is reachable (otherwise the
periodic tasks run in-process and tasks run eagerly), and for every demo site a device simulator
and an edge agent. Every line of output is prefixed with the process name. Ctrl-C stops all of it;
if one process dies, the others are stopped too and the exit code says so.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
DEMO_DIR = VAR / "demo"
HOST, PORT = "127.0.0.1", 8000
PY = sys.executable


def _redis_reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _run_step(args: list[str], env: dict[str, str]) -> None:
    print(f"demo: $ {' '.join(args)}", flush=True)
    subprocess.run(args, cwd=ROOT, env=env, check=True)


class Supervisor:
    """Starts named processes, prefixes their output, and stops them all together."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str]) -> None:
        proc = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.procs[name] = proc
        threading.Thread(target=self._pump, args=(name, proc), daemon=True).start()

    @staticmethod
    def _pump(name: str, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(f"{name:>14} | {line.decode(errors='replace')}")
            sys.stdout.flush()

    def wait_any(self) -> tuple[str, int]:
        while True:
            for name, proc in self.procs.items():
                code = proc.poll()
                if code is not None:
                    return name, code
            time.sleep(0.5)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    if not os.environ.get("DATABASE_URL"):
        print("demo: DATABASE_URL is not set; run `make demo`", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env.setdefault("DEBUG", "0")
    env.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    env.setdefault("SESSION_COOKIE_SECURE", "0")  # plain http on loopback
    env.setdefault("CSRF_COOKIE_SECURE", "0")
    env.setdefault("PORTAL_URL", f"http://{HOST}:{PORT}")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("FORECASTING_MAX_TRAINING_ROWS", "100000")  # 300 batteries: ~20 s a model
    broker = env.get("CELERY_BROKER_URL") or env.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    use_celery = _redis_reachable(broker)
    if use_celery:
        env["CELERY_BROKER_URL"] = broker
        print(f"demo: Redis at {broker}: starting a Celery worker and beat", flush=True)
    else:
        env.pop("CELERY_BROKER_URL", None)
        env.pop("REDIS_URL", None)
        print("demo: no Redis reachable: tasks run in-process", flush=True)

    manage = [PY, "manage.py"]
    _run_step([*manage, "migrate", "--noinput"], env)
    _run_step([*manage, "seed_demo", "--out", str(DEMO_DIR)], env)
    _run_step([*manage, "collectstatic", "--noinput", "-v", "0"], env)
    # accelerated ageing: two years of each site's simulated history (kept across restarts),
    # then the fleet models and every battery's forecast, remaining life and diagnosis
    for scenario in sorted(DEMO_DIR.glob("sim-*.json")):
        slug = scenario.stem.removeprefix("sim-")
        _run_step([*manage, "simulate_history", "--site", slug, "--scenario", str(scenario)], env)
    _run_step([*manage, "forecast", "--train", "missing", "--predict"], env)

    sup = Supervisor(env)
    sup.start(
        "web",
        [
            PY,
            "-m",
            "gunicorn",
            "bms_portal.wsgi",
            "-b",
            f"{HOST}:{PORT}",
            "--workers",
            "3",
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "5",
        ],
    )
    if use_celery:
        sup.start(
            "worker",
            [
                PY,
                "-m",
                "celery",
                "-A",
                "bms_portal",
                "worker",
                "-Q",
                "alarms,default,forecasting",
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
            ],
        )
        sup.start(
            "beat",
            [
                PY,
                "-m",
                "celery",
                "-A",
                "bms_portal",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(VAR / "celerybeat-schedule"),
            ],
        )
    else:
        sup.start("periodic", [*manage, "run_periodic"])
    time.sleep(2)  # let the web server bind before the agents ask for their configuration
    for scenario in sorted(DEMO_DIR.glob("sim-*.json")):
        slug = scenario.stem.removeprefix("sim-")
        port = (DEMO_DIR / f"sim-{slug}.port").read_text().strip()
        sup.start(
            f"sim-{slug}"[:14],
            [
                PY,
                "-m",
                "acquisition.simulator",
                "--tcp",
                f"127.0.0.1:{port}",
                "--scenario",
                str(scenario),
            ],
        )
        sup.start(
            f"agent-{slug}"[:14],
            [PY, "-m", "acquisition.agent", "--config", str(DEMO_DIR / f"agent-{slug}.toml")],
        )
    print(
        f"demo: open http://{HOST}:{PORT} (admin/admin, manager/manager, viewer/viewer)", flush=True
    )
    print("demo: Ctrl-C stops everything", flush=True)
    try:
        name, code = sup.wait_any()
        print(f"demo: {name} exited with code {code}; stopping the rest", flush=True)
        return code or 1
    except KeyboardInterrupt:
        print("\ndemo: stopping ...", flush=True)
        return 0
    finally:
        sup.stop_all()


if __name__ == "__main__":
    sys.exit(main())
