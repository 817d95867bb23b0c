"""The agent's outbox and uploader: nothing lost, nothing sent twice, nothing looped forever."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading

import pytest

from acquisition.agent.exception import PRIO_ALARM, PRIO_CHANGE, PRIO_HEARTBEAT
from acquisition.agent.outbox import Outbox
from acquisition.agent.portal import PortalClient
from acquisition.agent.uploader import Uploader
from tests.acquisition.agent_helpers import (
    FakePortal,
    ModbusBus,
    RunningAgent,
    Unit,
    batteries_on,
    bmu_values,
    portal_config,
    tcp_bus,
    wait_for,
    write_config,
)


@pytest.fixture
def bus():
    b = ModbusBus({1: Unit("H", bmu_values()), 2: Unit("H", bmu_values(voltage=12.0))}).start()
    yield b
    b.stop()


@pytest.fixture
def portal(bus):
    # heartbeat 0: every scan is queued, so the outbox fills quickly
    p = FakePortal(
        portal_config(
            [tcp_bus("lan", bus)], batteries_on("lan", [1, 2]), scan_interval_s=0.25, heartbeat_s=0
        )
    ).start()
    yield p
    p.stop()


def test_portal_down_then_back_delivers_every_scan_exactly_once(tmp_path, portal):
    with RunningAgent(
        write_config(tmp_path / "a.toml", portal, tmp_path / "s", upload_max_scans=3)
    ) as agent:
        wait_for(lambda: portal.scans())
        portal.status = 503
        wait_for(lambda: agent.outbox.depth() >= 8, timeout=10)
        assert agent.uploader.failures >= 2 and agent.uploader.reachable is False
        portal.status = 200
        wait_for(lambda: agent.outbox.depth() == 0 and agent.uploader.failures == 0, timeout=10)
        agent.stop.set()
    ts = [s["ts"] for s in portal.scans()]
    assert len(ts) == len(set(ts))  # exactly once
    failed = {b for b, _, code in portal.attempts if code == 503}
    delivered = {b for b, _ in portal.batches}
    # the batch that failed is retried under the same id (and then delivered)
    assert failed and failed <= delivered
    assert all(n <= 3 for _, n, _ in portal.attempts)


def _scan(i: int, marker: bool = False) -> str:
    return json.dumps(
        {
            "ts": f"2026-01-01T00:00:{i:02d}.000Z",
            "batteries": [],
            "banks": [],
            "silent": {"batteries": [], "banks": []},
            "bad": marker,
        }
    )


def _drain(tmp_path, fake: FakePortal, scans: list[str], max_scans: int) -> Outbox:
    outbox = Outbox(tmp_path / "o.sqlite3", 1000)
    for body in scans:
        outbox.add(body, PRIO_CHANGE)
    stop = threading.Event()
    up = Uploader(
        outbox,
        PortalClient(fake.url, fake.token, 2),
        max_scans,
        lambda: {},
        lambda _b: None,
        stop,
        0.05,
        0.1,
    )
    up.start()
    try:
        wait_for(lambda: outbox.depth() == 0)
    finally:
        stop.set()
        up.wake.set()
        up.join(5)
    return outbox


def test_a_malformed_scan_is_split_out_and_dead_lettered(tmp_path):
    fake = FakePortal(portal_config([], [])).start()
    fake.refuse = lambda s: s["bad"]
    try:
        outbox = _drain(tmp_path, fake, [_scan(i, marker=(i == 2)) for i in range(6)], 6)
    finally:
        fake.stop()
    assert sorted(int(s["ts"][17:19]) for s in fake.scans()) == [0, 1, 3, 4, 5]
    assert outbox.dead_letters() == 1
    reason = sqlite3.connect(outbox.path).execute("SELECT reason FROM dead_letter").fetchone()[0]
    assert "400" in reason


def test_a_batch_over_the_size_limit_is_halved_until_it_fits(tmp_path):
    fake = FakePortal(portal_config([], [])).start()
    fake.max_scans_per_batch = 2
    try:
        outbox = _drain(tmp_path, fake, [_scan(i) for i in range(8)], 8)
    finally:
        fake.stop()
    assert len(fake.scans()) == 8 and outbox.dead_letters() == 0
    assert {code for _, _, code in fake.attempts} == {200, 413}


def test_a_full_outbox_drops_heartbeats_first_and_alarm_scans_last(tmp_path, caplog):
    outbox = Outbox(tmp_path / "o.sqlite3", 10)
    for i in range(3):
        outbox.add(_scan(i), PRIO_ALARM)
    for i in range(3, 6):
        outbox.add(_scan(i), PRIO_CHANGE)
    for i in range(6, 30):
        outbox.add(_scan(i), PRIO_HEARTBEAT)
    assert outbox.depth() == 10
    batch = outbox.next_batch(10)
    kept = [int(json.loads(b)["ts"][17:19]) for b in batch.bodies]
    assert kept[:6] == [0, 1, 2, 3, 4, 5]  # every alarm and change scan survived
    assert kept[6:] == [26, 27, 28, 29]  # the newest heartbeats
    assert any("outbox full" in r.message and r.levelname == "ERROR" for r in caplog.records)


def test_the_outbox_survives_kill_9(tmp_path, portal):
    cfg = write_config(tmp_path / "a.toml", portal, tmp_path / "s")
    proc = subprocess.Popen(
        [sys.executable, "-m", "acquisition.agent", "--config", str(cfg)], stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: portal.scans(), timeout=15)
        portal.status = 503
        db = tmp_path / "s" / "outbox.sqlite3"

        def waiting() -> list[str]:
            con = sqlite3.connect(db)
            try:
                return [json.loads(b)["ts"] for (b,) in con.execute("SELECT body FROM scans")]
            finally:
                con.close()

        wait_for(lambda: len(waiting()) >= 4, timeout=10)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        before = waiting()
        assert len(before) >= 4
    finally:
        proc.kill()
        proc.wait(5)
    portal.status = 200
    with RunningAgent(cfg) as agent:
        wait_for(lambda: agent.outbox.depth() == 0 and agent.scans > 0, timeout=10)
    delivered = [s["ts"] for s in portal.scans()]
    assert set(before) <= set(delivered)
    assert len(delivered) == len(set(delivered))
