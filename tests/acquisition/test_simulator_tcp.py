"""The simulator CLI over real Modbus TCP on loopback: what the edge agent and mbpoll see."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from acquisition import registermap as rm

from .simulator_helpers import free_port, get, post, simulator

SCENARIO: dict[str, Any] = {
    "seed": 3,
    "relay": 247,
    "banks": [
        {"cmu": 1, "unit_type": "H", "first_address": 2, "count": 8, "capacity_ah": 100},
        {"cmu": 20, "unit_type": "L", "nominal_voltage": 2.0, "first_address": 21, "count": 3},
    ],
}


class Running:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, control: int) -> None:
        self.proc, self.port, self.control = proc, port, control
        self.client = ModbusTcpClient("127.0.0.1", port=port, timeout=0.5, retries=0)
        assert self.client.connect()

    def read(self, address: int, block: rm.Block) -> list[int]:
        result = self.client.read_input_registers(
            block.address, count=block.count, device_id=address
        )
        assert not result.isError(), result
        return list(result.registers)

    def bmu(self, address: int) -> dict[str, float]:
        return rm.BMU_MEASUREMENTS.decode(self.read(address, rm.BMU_MEASUREMENTS))


@pytest.fixture(scope="module")
def frozen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """Time factor 0: every value stays put, so reads can be compared exactly."""
    yield from _run(tmp_path_factory.mktemp("frozen"), 0.0)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One simulated minute per real second."""
    yield from _run(tmp_path_factory.mktemp("running"), 60.0)


def _run(tmp: Path, time_factor: float) -> Iterator[Running]:
    port, control = free_port(), free_port()
    args = [
        "--tcp",
        f"127.0.0.1:{port}",
        "--control",
        f"127.0.0.1:{control}",
        "--time-factor",
        str(time_factor),
    ]
    with simulator(args, SCENARIO, tmp, wait_for=port) as proc:
        sim = Running(proc, port, control)
        yield sim
        sim.client.close()


def test_client_reads_every_bmu_field_within_the_brochure_ranges(frozen: Running) -> None:
    serials = set()
    for address, letter in [*((a, "H") for a in range(2, 10)), *((a, "L") for a in (21, 22, 23))]:
        values = frozen.bmu(address)
        for name in rm.BMU_PARAMETERS:
            assert values[name] in rm.RANGES[letter][name], (address, name, values)
        assert values["status"] == 0 and values["dcr_seq"] >= 1
        ident = rm.BMU_IDENTITY.decode(frozen.read(address, rm.BMU_IDENTITY))
        assert rm.unit_type_letter(int(ident["unit_type"])) == letter
        assert ident["nominal_voltage"] == (12.0 if letter == "H" else 2.0)
        assert ident["firmware"] > 0
        serials.add(ident["serial"])
    assert len(serials) == 11
    cmu = rm.CMU_MEASUREMENTS.decode(frozen.read(1, rm.CMU_MEASUREMENTS))
    blocks = sum(frozen.bmu(a)["voltage"] for a in range(2, 10))
    assert cmu["string_voltage"] == pytest.approx(blocks, rel=0.01)
    assert 0 < cmu["current"] < 1  # float current of a 100 Ah string
    assert cmu["ambient"] in rm.RANGES["CMU"]["ambient"]
    ident = rm.CMU_IDENTITY.decode(frozen.read(1, rm.CMU_IDENTITY))
    assert ident["unit_type"] == rm.UnitType.CMU and ident["nominal_voltage"] == 96.0


def test_frozen_values_equal_the_control_state_exactly(frozen: Running) -> None:
    state = get(frozen.control, "/state")["units"]
    for address in [*range(2, 10), 21, 22, 23]:
        read = frozen.bmu(address)
        assert {k: state[str(address)][k] for k in read} == read
    cmu = rm.CMU_MEASUREMENTS.decode(frozen.read(1, rm.CMU_MEASUREMENTS))
    assert {k: state["1"][k] for k in cmu} == cmu
    time.sleep(0.3)
    assert frozen.bmu(2) == rm.BMU_MEASUREMENTS.decode(
        rm.BMU_MEASUREMENTS.encode(get(frozen.control, "/state")["units"]["2"])
    )


def test_mbpoll_reads_the_documented_raw_registers(frozen: Running) -> None:
    out = subprocess.run(
        [
            "mbpoll",
            "-m",
            "tcp",
            "-a",
            "2",
            "-t",
            "3",
            "-r",
            "1",
            "-c",
            "8",
            "-1",
            "-p",
            str(frozen.port),
            "127.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    raw = [int(v) for v in re.findall(r"^\[\d+\]:\s+(-?\d+)", out, flags=re.MULTILINE)]
    expected = rm.BMU_MEASUREMENTS.encode(get(frozen.control, "/state")["units"]["2"])
    assert [r & 0xFFFF for r in raw] == expected
    assert len(raw) == 8


def test_unknown_address_gets_gateway_exception(frozen: Running) -> None:
    result = frozen.client.read_input_registers(0, count=8, device_id=77)
    assert result.isError() and result.exception_code == 0x0B


def test_silent_unit_times_out_while_others_answer(frozen: Running) -> None:
    post(frozen.control, "/fault", {"address": 4, "kind": "silent"})
    try:
        started = time.monotonic()
        with pytest.raises(ModbusException):
            frozen.client.read_input_registers(0, count=8, device_id=4)
        assert time.monotonic() - started >= 0.4  # a timeout, not a quick exception
        assert frozen.bmu(5)["voltage"] > 13
    finally:
        post(frozen.control, "/clear", {"address": 4})
    assert frozen.bmu(4)["voltage"] > 13


def test_corrupt_unit_gives_a_client_error_while_others_answer(frozen: Running) -> None:
    post(frozen.control, "/fault", {"address": 6, "kind": "corrupt"})
    try:
        with pytest.raises(ModbusException):
            result = frozen.client.read_input_registers(0, count=8, device_id=6)
            assert not result.isError()  # an exception response would not be "garbage"
        assert frozen.bmu(7)["voltage"] > 13
    finally:
        post(frozen.control, "/clear", {"address": 6})


def test_relay_coils_are_written_and_read_back(frozen: Running) -> None:
    c = frozen.client
    assert not c.write_coil(0, True, device_id=247).isError()
    assert not c.write_coils(2, [True, False], device_id=247).isError()
    assert c.read_coils(0, count=4, device_id=247).bits[:4] == [True, False, True, False]
    assert get(frozen.control, "/relays") == [True, False, True, False]
    assert not c.write_coils(0, [False] * 4, device_id=247).isError()
    assert get(frozen.control, "/relays") == [False] * 4
    assert c.read_coils(0, count=4, device_id=2).isError()  # a BMU has no coils


def test_dcr_changes_only_after_a_measure_command(running: Running) -> None:
    c, unit = running.client, 3
    assert not c.write_register(rm.BMU_DCR_INTERVAL, 0, device_id=unit).isError()
    first = running.bmu(unit)
    time.sleep(0.5)  # thirty simulated seconds: voltages get fresh noise, DCR must not move
    second = running.bmu(unit)
    assert (second["dcr"], second["dcr_seq"]) == (first["dcr"], first["dcr_seq"])
    assert not c.write_register(rm.BMU_COMMAND, rm.CMD_MEASURE_DCR, device_id=unit).isError()
    pulsing = running.bmu(unit)
    assert rm.BmuStatus.DCR_IN_PROGRESS in rm.BmuStatus(int(pulsing["status"]))
    assert pulsing["dcr_seq"] == first["dcr_seq"]
    deadline = time.monotonic() + 5
    while (done := running.bmu(unit))["dcr_seq"] == first["dcr_seq"]:
        assert time.monotonic() < deadline, "DCR measurement never completed"
        time.sleep(0.1)
    assert done["dcr_seq"] == first["dcr_seq"] + 1
    assert rm.BmuStatus.DCR_IN_PROGRESS not in rm.BmuStatus(int(done["status"]))
    assert done["dcr"] == pytest.approx(first["dcr"], rel=0.05)
    assert c.read_holding_registers(rm.BMU_COMMAND, count=2, device_id=unit).registers == [0, 0]


def test_forced_discharge_drops_voltages_and_cmu_current_is_negative(running: Running) -> None:
    before = [running.bmu(a)["voltage"] for a in range(5, 10)]
    post(running.control, "/current", {"bank_cmu": 1, "current": -50.0})
    try:
        time.sleep(1.0)  # one simulated minute of discharge
        cmu = rm.CMU_MEASUREMENTS.decode(running.read(1, rm.CMU_MEASUREMENTS))
        assert cmu["current"] == pytest.approx(-50.0, abs=0.6)
        after = [running.bmu(a)["voltage"] for a in range(5, 10)]
        assert all(a < b - 0.4 for a, b in zip(after, before, strict=True))
        other = rm.CMU_MEASUREMENTS.decode(running.read(20, rm.CMU_MEASUREMENTS))
        assert other["current"] > 0  # the other bank stays on float
    finally:
        post(running.control, "/current", {"bank_cmu": 1, "current": None})
    time.sleep(0.5)
    assert rm.CMU_MEASUREMENTS.decode(running.read(1, rm.CMU_MEASUREMENTS))["current"] > 0


def test_sigterm_stops_the_simulator_cleanly(tmp_path: Path) -> None:
    port = free_port()
    with simulator(
        ["--tcp", f"127.0.0.1:{port}", "--units", "3"], None, tmp_path, wait_for=port
    ) as proc:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert proc.stderr is not None
        log = proc.stderr.read().decode()
    assert "serving on TCP" in log and "3 x H 12 V at 1..3" in log


def test_bad_scenario_exits_with_a_message_naming_the_key(tmp_path: Path) -> None:
    bad = {"banks": [{"first_address": 1, "count": 2}, {"first_address": 2, "count": 1}]}
    with simulator(["--tcp", "127.0.0.1:1"], bad, tmp_path) as proc:
        assert proc.wait(timeout=10) == 2
        assert proc.stderr is not None
        assert "banks[1].first_address/count: address 2 already used" in proc.stderr.read().decode()
