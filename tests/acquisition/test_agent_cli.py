"""``python -m acquisition.agent``: bad configuration and signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.acquisition.agent_helpers import (
    FakePortal,
    ModbusBus,
    Unit,
    batteries_on,
    bmu_values,
    free_port,
    portal_config,
    tcp_bus,
    wait_for,
    write_config,
)

AGENT = [sys.executable, "-m", "acquisition.agent", "--config"]


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ('token = "x"\nstate_dir = "/tmp/x"\n', "portal_url"),
        ('portal_url = "http://h"\nstate_dir = "/tmp/x"\n', "token"),
        (
            'portal_url = "http://h"\ntoken = "x"\nstate_dir = "/tmp/x"\nupload_max_scans = "a"\n',
            "upload_max_scans",
        ),
        (
            'portal_url = "http://h"\ntoken = "x"\nstate_dir = "/tmp/x"\nscada_listen = "nope"\n',
            "scada_listen",
        ),
        ('portal_url = "http://h"\ntoken = "x"\nstate_dir = "/tmp/x"\ncolour = 1\n', "colour"),
    ],
)
def test_a_bad_config_exits_2_naming_the_key_and_file(tmp_path, content, key):
    path = tmp_path / "agent.toml"
    path.write_text(content)
    proc = subprocess.run([*AGENT, str(path)], capture_output=True, text=True, timeout=20)
    assert proc.returncode == 2
    assert key in proc.stderr and str(path) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_sigterm_stops_the_agent_promptly_with_exit_0(tmp_path):
    bus = ModbusBus({1: Unit("H", bmu_values())}).start()
    portal = FakePortal(portal_config([tcp_bus("lan", bus)], batteries_on("lan", [1]))).start()
    health = free_port()
    cfg = write_config(
        tmp_path / "a.toml", portal, tmp_path / "s", health_listen=f"127.0.0.1:{health}"
    )
    proc = subprocess.Popen([*AGENT, str(cfg)], stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: portal.scans(), timeout=15)

        def healthz() -> dict:
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=2) as r:
                return json.loads(r.read())

        status = wait_for(lambda: (h := healthz())["outbox_depth"] == 0 and h)
        assert status["ok"] and status["portal_reachable"] and status["last_scan"].endswith("Z")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert time.monotonic() - t0 < 5
        err = proc.stderr.read()
        assert "SIGTERM received" in err and "stopped" in err
    finally:
        proc.kill()
        proc.wait(5)
        portal.stop()
        bus.stop()
