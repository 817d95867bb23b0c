"""The agent's main loop: configuration, clock-aligned scans, and the glue between the parts.

Threads: the main thread runs the scan loop; every bus has its own worker (``bus.py``); the
uploader drains the outbox (``uploader.py``); the SCADA server and the health endpoint serve
from their own threads. Shared state crosses threads only through the SQLite outbox, futures,
events and whole-object replacement (the SCADA register image).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import wait
from datetime import UTC, datetime
from typing import Any

from acquisition import registermap as rm

from . import __version__, scada
from .bus import BusPoller, BusScan
from .config import (
    ConfigError,
    LocalConfig,
    PortalConfig,
    UnitRef,
    load_cached,
    parse_portal,
    save_cached,
)
from .exception import ReportFilter
from .health import HealthServer
from .outbox import Outbox
from .portal import PortalClient, dumps
from .relays import RelayController
from .uploader import Uploader

log = logging.getLogger("acquisition.agent")


def utc_ms(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Agent:
    def __init__(self, local: LocalConfig) -> None:
        self.local = local
        self.stop = threading.Event()
        self.reload = threading.Event()
        self.portal = PortalClient(local.portal_url, local.token, local.http_timeout_s)
        self.outbox = Outbox(local.state_dir / "outbox.sqlite3", local.outbox_max_scans)
        self.cfg: PortalConfig | None = None
        self.pollers: dict[str, BusPoller] = {}
        self.relay: RelayController | None = None
        self.filter = ReportFilter({}, 300)
        self.latest: dict[tuple[str, int], list[int]] = {}
        self.silent: set[tuple[str, int]] = set()
        self.scans = 0
        self.overruns = 0
        self.last_scan_s = 0.0
        self.last_scan_end: float | None = None
        self.pending: PortalConfig | None = None  # fetched in the background, applied between scans
        self._fetching = threading.Lock()
        self._last_fetch = 0.0
        self.uploader = Uploader(
            self.outbox,
            self.portal,
            local.upload_max_scans,
            self.agent_info,
            self.on_reply,
            self.stop,
            local.backoff_initial_s,
            local.backoff_max_s,
        )
        self.scada = scada.ScadaServer(*local.scada_listen) if local.scada_listen else None
        self.health = (
            HealthServer(*local.health_listen, self.health_status) if local.health_listen else None
        )

    # -- configuration ----

    def fetch_config(self) -> PortalConfig | None:
        """Ask the portal; on success validate, cache and return it."""
        reply = self.portal.get_config()
        if reply.status != 200:
            log.warning(
                "cannot fetch config from the portal: %s", reply.error or f"HTTP {reply.status}"
            )
            return None
        try:
            cfg = parse_portal(reply.body, self.local.bus_overrides)
        except ConfigError as exc:
            log.error("refusing the portal's configuration: %s", exc)
            return None
        save_cached(self.local.state_dir, reply.body)
        return cfg

    def initial_config(self) -> PortalConfig | None:
        delay = self.local.backoff_initial_s
        while not self.stop.is_set():
            cfg = self.fetch_config()
            if cfg is not None:
                return cfg
            cached = load_cached(self.local.state_dir)
            if cached is not None:
                try:
                    cfg = parse_portal(cached, self.local.bus_overrides)
                    log.warning("portal unreachable: running the cached config %s", cfg.version)
                    self.reload.set()  # keep asking the portal from the scan loop
                    return cfg
                except ConfigError as exc:
                    log.error("cached config unusable: %s", exc)
            log.error("no configuration yet (portal unreachable, no cache); retry in %.0f s", delay)
            self.stop.wait(delay)
            delay = min(self.local.backoff_max_s, delay * 2)
        return None

    def maybe_reload(self) -> None:
        """Apply a config fetched in the background; start a fetch when one is wanted.

        The fetch runs on its own thread so a slow or dead portal never delays a scan; while the
        portal is down it is retried at most every 30 s.
        """
        new, self.pending = self.pending, None
        if new is not None and (self.cfg is None or new.version != self.cfg.version):
            self.apply_config(new)
        if not self.reload.is_set() or time.monotonic() - self._last_fetch < 30:
            return
        if not self._fetching.acquire(blocking=False):
            return
        self.reload.clear()
        self._last_fetch = time.monotonic()

        def fetch() -> None:
            try:
                cfg = self.fetch_config()
                if cfg is None:
                    self.reload.set()
                else:
                    self.pending = cfg
            finally:
                self._fetching.release()

        threading.Thread(target=fetch, name="config-fetch", daemon=True).start()

    def apply_config(self, cfg: PortalConfig) -> None:
        for p in self.pollers.values():
            p.close()
        dcr_min = round(cfg.dcr_interval_h * 60)
        self.pollers = {name: BusPoller(bus, dcr_min) for name, bus in cfg.buses.items()}
        self.relay = None
        if cfg.relay:
            self.relay = RelayController(
                self.pollers[cfg.relay[0]], cfg.relay[1], self.local.relay_reassert_s
            )
            self.relay.read_initial()
        self.filter.reconfigure(cfg.deadbands, cfg.heartbeat_s)
        self.cfg = cfg
        buses = ", ".join(
            f"{b.name} ({b.kind} {b.host + ':' if b.kind == 'tcp' else ''}{b.port}, "
            f"{len(cfg.units_on(b.name))} units)"
            for b in cfg.buses.values()
        )
        log.info(
            "config %s: %d batteries, %d banks, scan every %g s, heartbeat %g s; buses: %s",
            cfg.version,
            len(cfg.batteries),
            len(cfg.banks),
            cfg.scan_interval_s,
            cfg.heartbeat_s,
            buses,
        )

    # -- portal replies (uploader thread) ----

    def on_reply(self, body: dict[str, Any]) -> None:
        version = body.get("config_version")
        if self.cfg is not None and version is not None and str(version) != self.cfg.version:
            log.info("portal has config %s (running %s): reloading", version, self.cfg.version)
            self._last_fetch = 0.0
            self.reload.set()
        commands = body.get("commands") or {}
        relays = commands.get("relays")
        if relays is not None and self.relay is not None:
            self.relay.command(relays)
        for bid in commands.get("measure_dcr") or []:
            self.measure_dcr(int(bid))

    def measure_dcr(self, battery_id: int) -> None:
        cfg = self.cfg
        unit = next((u for u in cfg.batteries if u.id == battery_id), None) if cfg else None
        if unit is None:
            log.warning("measure_dcr for unknown battery %d ignored", battery_id)
            return
        log.info(
            "DCR measurement requested for battery %d (bus %s address %d)",
            unit.id,
            unit.bus,
            unit.address,
        )
        self.pollers[unit.bus].submit_write_register(
            unit.address, rm.BMU_COMMAND, rm.CMD_MEASURE_DCR
        )

    def agent_info(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "outbox_depth": self.outbox.depth(),
            "config_version": self.cfg.version if self.cfg else None,
            "last_scan_s": round(self.last_scan_s, 3),
            "overruns": self.overruns,
            "relays": self.relay.report() if self.relay else None,
        }

    def health_status(self) -> tuple[bool, dict[str, Any]]:
        interval = self.cfg.scan_interval_s if self.cfg else 10.0
        fresh = (
            self.last_scan_end is not None and time.time() - self.last_scan_end < 3 * interval + 5
        )
        return fresh, {
            "ok": fresh,
            "last_scan": utc_ms(self.last_scan_end) if self.last_scan_end else None,
            "last_scan_s": round(self.last_scan_s, 3),
            "scans": self.scans,
            "overruns": self.overruns,
            "silent_units": len(self.silent),
            "outbox_depth": self.outbox.depth(),
            "dead_letters": self.outbox.dead_letters(),
            "portal_reachable": self.uploader.reachable,
            "last_upload": self.uploader.last_upload,
            "config_version": self.cfg.version if self.cfg else None,
            "readings_taken": self.filter.stats.taken,
            "readings_queued": self.filter.stats.queued,
        }

    # -- scanning ----

    def scan_once(self) -> None:
        """One scan of every unit on every bus (buses in parallel), then report by exception."""
        cfg = self.cfg
        assert cfg is not None
        t0 = time.time()
        m0 = time.monotonic()
        futures = {
            name: p.submit_scan(cfg.units_on(name), self.stop) for name, p in self.pollers.items()
        }
        wait(futures.values())
        results: dict[UnitRef, list[int] | None] = {}
        abandoned = False
        for name, fut in futures.items():
            if fut.cancelled() or fut.exception() is not None:
                log.error(
                    "bus %s scan failed: %r", name, None if fut.cancelled() else fut.exception()
                )
                continue
            bs: BusScan = fut.result()
            abandoned |= bs.abandoned
            results.update(bs.results)
            log.debug("bus %s: %d units in %.3f s", name, len(bs.results), bs.duration_s)
        if abandoned:
            log.info("scan abandoned (stopping)")
            return
        ordered = {u: results.get(u) for u in cfg.banks + cfg.batteries}
        self.last_scan_s = time.monotonic() - m0
        self.last_scan_end = time.time()
        self.scans += 1
        for u, regs in ordered.items():
            if regs is None:
                self.silent.add((u.kind, u.id))
            else:
                self.latest[(u.kind, u.id)] = regs
                self.silent.discard((u.kind, u.id))
        scan, prio = self.filter.filter(utc_ms(t0), time.monotonic(), ordered)
        if scan is not None:
            self.outbox.add(dumps(scan), prio)
            self.uploader.wake.set()
        elif self.relay is not None:
            # Nothing changed, but relay states follow alarms that the portal raised after our
            # last upload: ask for commands every scan so a relay switches within two scans.
            self.uploader.poll_commands.set()
            self.uploader.wake.set()
        if self.scada is not None:
            self.scada.image = self.scada_image(cfg)
        if self.relay is not None:
            self.relay.tick()
        silent = len(scan["silent"]["batteries"]) + len(scan["silent"]["banks"]) if scan else 0
        log.debug(
            "scan %d: %.3f s, queued=%s, silent=%d",
            self.scans,
            self.last_scan_s,
            scan is not None,
            silent,
        )
        if self.last_scan_s > cfg.scan_interval_s:
            self.overruns += 1
            log.warning(
                "scan overrun: %.2f s for a %g s interval (%d overruns)",
                self.last_scan_s,
                cfg.scan_interval_s,
                self.overruns,
            )

    def scada_image(self, cfg: PortalConfig) -> list[int]:
        img = [0] * scada.SIZE
        end = int(self.last_scan_end or 0)
        img[0:10] = [
            1,
            len(cfg.batteries),
            len(cfg.banks),
            (end >> 16) & 0xFFFF,
            end & 0xFFFF,
            min(65535, round(self.last_scan_s * 1000)),
            self.scans & 0xFFFF,
            self.overruns & 0xFFFF,
            min(65535, self.outbox.depth()),
            1 if self.uploader.reachable else 0,
        ]
        for slots, base, flags, size in (
            (cfg.batteries, scada.BATTERIES, scada.BATTERY_FLAGS, 8),
            (cfg.banks, scada.BANKS, scada.BANK_FLAGS, 6),
        ):
            for n, u in enumerate(slots):
                key = (u.kind, u.id)
                regs = self.latest.get(key)
                if regs is not None:
                    img[base + n * size : base + (n + 1) * size] = regs[:size]
                img[flags + n] = (
                    scada.FLAG_NEVER
                    if regs is None
                    else (scada.FLAG_SILENT if key in self.silent else scada.FLAG_OK)
                )
        return img

    def run(self) -> int:
        log.info(
            "bms-agent %s starting (config file %s, state %s)",
            __version__,
            self.local.path,
            self.local.state_dir,
        )
        log.info("outbox: %d scans waiting", self.outbox.depth())
        if self.health:
            self.health.start()
        if self.scada:
            self.scada.start()
        self.uploader.start()
        try:
            cfg = self.initial_config()
            if cfg is None:
                return 0
            self.apply_config(cfg)
            while not self.stop.is_set():
                interval = self.cfg.scan_interval_s if self.cfg else 10.0
                now = time.time()
                next_tick = (math.floor(now / interval) + 1) * interval
                if self.stop.wait(next_tick - now):
                    break
                self.maybe_reload()
                self.scan_once()
        finally:
            self.shutdown()
        return 0

    def shutdown(self) -> None:
        log.info("stopping: outbox has %d scans waiting", self.outbox.depth())
        self.stop.set()
        self.uploader.wake.set()
        for p in self.pollers.values():
            p.close()
        if self.scada:
            self.scada.stop()
        if self.health:
            self.health.stop()
        self.uploader.join(timeout=self.local.http_timeout_s + 1)
        self.outbox.close()
        log.info("stopped")
