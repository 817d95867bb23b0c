"""The site's relay module (4 dry contacts), driven by commands in the portal's ingest reply.

The portal decides (alarm rules); the agent only executes. A new state is written at once with
one FC15 request, and the same state is re-asserted every ``reassert_s`` (a minute) so a relay
module that was power-cycled or reset by hand comes back to what the portal wants. The state
reported back (``agent.relays``) is what the module last acknowledged, not what was asked for.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future

from acquisition import registermap as rm

from .bus import BusPoller

log = logging.getLogger(__name__)


class RelayController:
    def __init__(self, poller: BusPoller, address: int, reassert_s: float = 60.0) -> None:
        self.poller = poller
        self.address = address
        self.reassert_s = reassert_s
        self._lock = threading.Lock()
        self.desired: list[bool] | None = None
        self.state: list[bool] | None = None  # as last acknowledged by the module
        self._last_write = 0.0
        self._busy = False

    def read_initial(self) -> None:
        """Learn the module's current outputs (so the first report is true)."""
        fut = self.poller.submit_read_coils(self.address, rm.RELAY_COILS, rm.RELAY_COUNT)
        fut.add_done_callback(self._read_done)

    def _read_done(self, fut: Future[list[bool] | None]) -> None:
        if not fut.cancelled() and fut.exception() is None and (bits := fut.result()) is not None:
            with self._lock:
                if self.state is None:
                    self.state = bits
                    log.info("relay module %d: outputs %s", self.address, bits)

    def command(self, relays: list[bool]) -> None:
        """Portal asked for these outputs: write them now if they differ from the module's."""
        want = [bool(x) for x in relays[: rm.RELAY_COUNT]]
        if len(want) != rm.RELAY_COUNT:
            log.warning("ignoring relay command %r: need %d values", relays, rm.RELAY_COUNT)
            return
        with self._lock:
            changed = want != self.desired
            self.desired = want
        if changed and want != self.state:
            log.info("relay command: %s (module has %s)", want, self.state)
            self._write()

    def tick(self) -> None:
        """Called every scan: re-assert the desired state once a minute, retry failed writes."""
        with self._lock:
            if self.desired is None or self._busy:
                return
            due = (
                self.state != self.desired or time.monotonic() - self._last_write >= self.reassert_s
            )
        if due:
            self._write()

    def _write(self) -> None:
        with self._lock:
            if self.desired is None or self._busy:
                return
            want = list(self.desired)
            self._busy = True
            self._last_write = time.monotonic()
        fut = self.poller.submit_write_coils(self.address, rm.RELAY_COILS, want)

        def done(f: Future[bool]) -> None:
            ok = not f.cancelled() and f.exception() is None and f.result()
            with self._lock:
                self._busy = False
                if ok:
                    self.state = want

        fut.add_done_callback(done)

    def report(self) -> list[bool] | None:
        with self._lock:
            return list(self.state) if self.state is not None else None
