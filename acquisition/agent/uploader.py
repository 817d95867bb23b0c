"""The uploader thread: drains the outbox to the portal, batch by batch.

Reply handling (``docs/ingest-protocol.md``):

- 200: delete the batch's scans, hand ``config_version`` and ``commands`` to the agent.
- 5xx, connection errors, timeouts: keep the batch, retry the *same* batch (same UUID) after an
  exponential backoff with jitter (1 s doubling to 300 s by default).
- 401: the token is wrong or revoked; keep everything and back off the same way.
- 400 / 413: the portal refuses the batch. Halve it; a single scan still refused as malformed
  goes to the ``dead_letter`` table with the reason. Nothing is retried unchanged forever.
- other 4xx: treated like 400 (a client error the portal will not change its mind about).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .outbox import Batch, Outbox
from .portal import PortalClient, Reply, dumps

log = logging.getLogger(__name__)


class Uploader(threading.Thread):
    def __init__(
        self,
        outbox: Outbox,
        portal: PortalClient,
        max_scans: int,
        agent_info: Callable[[], dict[str, Any]],
        on_reply: Callable[[dict[str, Any]], None],
        stop: threading.Event,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 300.0,
    ) -> None:
        super().__init__(name="uploader", daemon=True)
        self.outbox = outbox
        self.portal = portal
        self.max_scans = max_scans
        self.agent_info = agent_info
        self.on_reply = on_reply
        self.stop = stop
        self.wake = threading.Event()
        #: Set by the scan loop: when the outbox is empty, send an empty batch to fetch commands.
        self.poll_commands = threading.Event()
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.failures = 0
        self.reachable: bool | None = None
        self.last_upload: str | None = None
        self.uploaded_scans = 0

    def backoff_delay(self) -> float:
        """Exponential with jitter: the nominal delay doubles per failure, then +-25 %."""
        nominal = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (self.failures - 1))
        return min(self.backoff_max_s, nominal * random.uniform(0.75, 1.25))

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                delay = self._step()
            except Exception:  # never let the thread die: the outbox keeps the data
                log.exception("uploader error")
                delay = self.backoff_max_s / 10
            if delay is None:
                self.wake.wait(5.0)
                self.wake.clear()
            elif delay > 0:
                self.stop.wait(delay)

    def _step(self) -> float | None:
        """Send one batch; return the wait before the next one (None = wait for new scans)."""
        batch = self.outbox.next_batch(self.max_scans)
        if batch is None:
            if self.poll_commands.is_set():
                self.poll_commands.clear()
                return self._poll_commands()
            return None
        agent = self.agent_info()
        body = (
            '{"batch":'
            + dumps(batch.id)
            + ',"agent":'
            + dumps(agent)
            + ',"scans":['
            + ",".join(batch.bodies)
            + "]}"
        ).encode()
        reply = self.portal.post_ingest(body)
        if reply.status == 200:
            return self._accepted(batch, reply)
        if reply.status in (400, 413) or (402 <= reply.status < 500 and reply.status != 429):
            self._refused(batch, reply)
            return 0
        return self._failed(batch, reply)

    def _poll_commands(self) -> float | None:
        """An empty batch (a heartbeat): the reply carries the current relay states."""
        body = ('{"agent":' + dumps(self.agent_info()) + ',"scans":[]}').encode()
        reply = self.portal.post_ingest(body)
        if reply.status != 200:
            log.debug("command poll failed: HTTP %s %s", reply.status, reply.error)
            return None
        try:
            self.on_reply(reply.body)
        except Exception:
            log.exception("applying the ingest reply failed")
        return None

    def _accepted(self, batch: Batch, reply: Reply) -> float:
        self.outbox.ack(batch)
        self.uploaded_scans += len(batch.scan_ids)
        self.last_upload = (
            datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
        if self.failures or not self.reachable:
            log.info("portal reachable again after %d failed attempt(s)", self.failures)
        self.failures = 0
        self.reachable = True
        self.outbox.unreachable_since = None
        rejected = reply.body.get("rejected") or []
        log.info(
            "uploaded batch %s: %d scan(s), accepted %s, duplicates %s, rejected %d; "
            "outbox depth %d",
            batch.id,
            len(batch.scan_ids),
            reply.body.get("accepted"),
            reply.body.get("duplicates"),
            len(rejected),
            self.outbox.depth(),
        )
        for r in rejected[:10]:
            log.warning("portal rejected a reading: %s", r)
        try:
            self.on_reply(reply.body)
        except Exception:
            log.exception("applying the ingest reply failed")
        return 0

    def _refused(self, batch: Batch, reply: Reply) -> None:
        reason = f"HTTP {reply.status}: {reply.body or reply.error}"
        if len(batch.scan_ids) > 1:
            log.warning(
                "portal refused batch %s of %d scans (%s); splitting it",
                batch.id,
                len(batch.scan_ids),
                reason,
            )
            self.outbox.split(batch)
        else:
            self.outbox.dead_letter(batch, reason)

    def _failed(self, batch: Batch, reply: Reply) -> float:
        self.failures += 1
        if self.reachable is not False:
            self.outbox.unreachable_since = datetime.now(UTC).isoformat(timespec="seconds")
        self.reachable = False
        delay = self.backoff_delay()
        what = (
            "token refused (401), check the gateway token"
            if reply.status == 401
            else (f"HTTP {reply.status}" if reply.status else reply.error)
        )
        log.warning(
            "upload of batch %s failed (%s); retry %d in %.1f s, outbox depth %d",
            batch.id,
            what,
            self.failures,
            delay,
            self.outbox.depth(),
        )
        return delay
