"""The simulator over Modbus RTU on a socat pty pair, read by pymodbus's serial client."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ModbusException

from acquisition import registermap as rm

from .simulator_helpers import free_port, get, post, simulator

pytestmark = pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat")

SCENARIO = {
    "seed": 5,
    "relay": 247,
    "banks": [{"cmu": 1, "unit_type": "H", "first_address": 2, "count": 5}],
}


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A virtual RS-485 line: two linked pseudo-terminals (simulator end, client end)."""
    tmp = tmp_path_factory.mktemp("rtu")
    a, b = str(tmp / "A"), str(tmp / "B")
    proc = subprocess.Popen(
        ["socat", "-d", "-d", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 5
        while not (Path(a).exists() and Path(b).exists()):
            assert proc.poll() is None and time.monotonic() < deadline, "socat did not start"
            time.sleep(0.05)
        yield a, b
    finally:
        proc.terminate()
        proc.wait(timeout=5)


@pytest.fixture(scope="module")
def rtu(
    line: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ModbusSerialClient, int]]:
    control = free_port()
    args = [
        "--rtu",
        line[0],
        "--baud",
        "9600",
        "--time-factor",
        "0",
        "--control",
        f"127.0.0.1:{control}",
    ]
    with simulator(args, SCENARIO, tmp_path_factory.mktemp("rtu-sim"), wait_for=control):
        client = ModbusSerialClient(line[1], baudrate=9600, timeout=0.5, retries=0)
        assert client.connect()
        try:
            yield client, control
        finally:
            client.close()


def read(client: ModbusSerialClient, address: int, block: rm.Block) -> list[int]:
    result = client.read_input_registers(block.address, count=block.count, device_id=address)
    assert not result.isError(), result
    return list(result.registers)


def test_rtu_client_reads_bmus_and_cmu_matching_the_control_state(
    rtu: tuple[ModbusSerialClient, int],
) -> None:
    client, control = rtu
    state = get(control, "/state")["units"]
    for address in range(2, 7):
        values = rm.BMU_MEASUREMENTS.decode(read(client, address, rm.BMU_MEASUREMENTS))
        assert {k: state[str(address)][k] for k in values} == values
        assert values["voltage"] in rm.RANGES["H"]["voltage"]
    cmu = rm.CMU_MEASUREMENTS.decode(read(client, 1, rm.CMU_MEASUREMENTS))
    assert cmu["string_voltage"] == pytest.approx(5 * 13.62, rel=0.02)


def test_rtu_silent_and_corrupt_units_fail_while_others_answer(
    rtu: tuple[ModbusSerialClient, int],
) -> None:
    client, control = rtu
    post(control, "/fault", {"address": 3, "kind": "silent"})
    post(control, "/fault", {"address": 4, "kind": "corrupt"})
    try:
        for address in (3, 4):
            with pytest.raises(ModbusException):
                result = client.read_input_registers(0, count=8, device_id=address)
                assert not result.isError()
            assert read(client, 5, rm.BMU_MEASUREMENTS)[0] > 13000  # the line still works
    finally:
        post(control, "/clear", {"address": 3})
        post(control, "/clear", {"address": 4})
    assert read(client, 4, rm.BMU_MEASUREMENTS)[0] > 13000


def test_rtu_relay_coils_and_unknown_address_is_silent(rtu: tuple[ModbusSerialClient, int]) -> None:
    client, control = rtu
    assert not client.write_coils(0, [False, True, True, False], device_id=247).isError()
    assert client.read_coils(0, count=4, device_id=247).bits[:4] == [False, True, True, False]
    assert get(control, "/relays") == [False, True, True, False]
    with pytest.raises(ModbusException):  # nobody on the line answers address 99
        client.read_input_registers(0, count=8, device_id=99)
    assert read(client, 2, rm.BMU_MEASUREMENTS)[0] > 13000
