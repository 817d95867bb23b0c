"""Command line: ``python -m acquisition.simulator`` (console script ``bms-simulator``).

Examples::

    bms-simulator --tcp 127.0.0.1:5020 --units 40
    bms-simulator --rtu /dev/ttyUSB0 --baud 9600 --parity E --scenario site.json
    bms-simulator --tcp 127.0.0.1:5020 --scenario site.json --time-factor 8760 --control :8081
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import signal
import sys
from http.server import ThreadingHTTPServer

from acquisition import registermap as rm

from .control import start_control
from .modbus import serve_rtu, serve_tcp
from .scenario import Scenario, ScenarioError
from .simulator import Simulator

log = logging.getLogger("acquisition.simulator")


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bms-simulator", description=__doc__.splitlines()[0])
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", type=_host_port, metavar="HOST:PORT", help="serve Modbus TCP")
    where.add_argument("--rtu", metavar="DEVICE", help="serve Modbus RTU on a serial device")
    p.add_argument("--baud", type=int, default=9600)
    p.add_argument("--parity", choices="NEO", default="N")
    p.add_argument(
        "--line-timing",
        choices=("auto", "on", "off"),
        default="auto",
        help="RTU: pace frames at the baud rate (auto: on for a pseudo-terminal)",
    )
    p.add_argument("--units", type=int, help="N H-type BMUs at 1..N (when no --scenario)")
    p.add_argument("--scenario", help="scenario JSON file")
    p.add_argument("--time-factor", type=float, help="simulated s per real s (0 freezes)")
    p.add_argument("--seed", type=int)
    p.add_argument("--control", type=_host_port, metavar="HOST:PORT", help="HTTP control server")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def build_scenario(args: argparse.Namespace) -> Scenario:
    """The scenario from the file or ``--units``, with command-line overrides applied."""
    limit = rm.MAX_RTU_ADDRESS if args.rtu else rm.MAX_UNITS_PER_GATEWAY
    if args.scenario:
        scenario = Scenario.from_file(args.scenario)
    else:
        units = 8 if args.units is None else args.units
        if not 1 <= units <= limit:
            raise ScenarioError(f"--units: must be 1..{limit}")
        scenario = Scenario.default(units=units)
    if args.time_factor is not None:
        if args.time_factor < 0:
            raise ScenarioError("--time-factor: must be >= 0")
        scenario = dataclasses.replace(scenario, time_factor=args.time_factor)
    if args.seed is not None:
        scenario = dataclasses.replace(scenario, seed=args.seed)
    too_high = [a for a in scenario.addresses() if a > limit]
    if too_high:
        raise ScenarioError(f"address {too_high[0]}: above {limit}, the limit on this transport")
    return scenario


def describe(sim: Simulator) -> str:
    lines = [f"time factor {sim.time_factor:g}, seed {sim.scenario.seed}"]
    for i, bank in enumerate(sim.scenario.banks):
        cmu = f"CMU {bank.cmu}" if bank.cmu is not None else "no CMU"
        lines.append(
            f"bank {i}: {bank.count} x {bank.unit_type} {bank.nominal_voltage:g} V at "
            f"{bank.first_address}..{bank.first_address + bank.count - 1}, {cmu}"
        )
    if sim.relay is not None:
        lines.append(f"relay module at {sim.relay}")
    for f in sim.scenario.faults:
        lines.append(f"fault {f.kind} on {f.address} after {f.after_s:g} s")
    return "; ".join(lines)


async def run(args: argparse.Namespace, sim: Simulator) -> None:
    """Serve until SIGTERM/SIGINT."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    control: ThreadingHTTPServer | None = None

    async def ready() -> None:
        # The control server starts only now that the Modbus port is open, so a client that waits
        # for the control port can talk Modbus at once (a serial port opened later would flush
        # a request already waiting in it).
        nonlocal control
        if args.control:
            control = start_control(sim, *args.control)
        where = f"TCP {args.tcp[0]}:{args.tcp[1]}" if args.tcp else f"RTU {args.rtu} {args.baud}"
        log.info("serving on %s: %s", where, describe(sim))
        if control is not None:
            log.info("control server on http://%s:%d/state", *control.server_address[:2])

    try:
        if args.tcp:
            await serve_tcp(sim, args.tcp[0], args.tcp[1], ready=ready)
        else:
            timing = {"auto": None, "on": True, "off": False}[args.line_timing]
            await serve_rtu(sim, args.rtu, args.baud, args.parity, ready=ready, line_timing=timing)
    except asyncio.CancelledError:
        log.info("stopping")
    finally:
        if control is not None:
            control.shutdown()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    try:
        sim = Simulator(build_scenario(args))
    except (ScenarioError, OSError) as exc:
        print(f"bms-simulator: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args, sim))
    return 0


if __name__ == "__main__":
    sys.exit(main())
