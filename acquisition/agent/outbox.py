"""The local outbox: every queued scan is committed to SQLite before anything else happens.

A scan leaves the outbox only when the portal answered 200 for the batch that carried it, so a
portal outage, a network cut or a ``kill -9`` of the agent loses nothing (WAL journal,
``synchronous=FULL``: a commit is on disk when ``add`` returns).

Batches are stored, not recomputed: the first time scans are handed to the uploader they are
stamped with a batch UUID, and every retry of that batch (also after a restart) sends exactly the
same scans under the same UUID. Splitting a refused batch gives each half a new UUID.

Full outbox policy (``outbox_max_scans``): the portal has been unreachable for long. To make room,
the agent drops the *oldest scans of the lowest priority first*: heartbeat-only scans, then scans
with deadband moves, and only when nothing else is left the oldest alarm-relevant scans (status
changes, units going silent or coming back). Every drop is logged at ERROR (rate-limited).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    priority INTEGER NOT NULL,
    batch TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scans_batch ON scans (batch);
CREATE INDEX IF NOT EXISTS scans_priority ON scans (priority, id);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scan_id INTEGER NOT NULL,
    created REAL NOT NULL,
    reason TEXT NOT NULL,
    body TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Batch:
    id: str
    scan_ids: list[int]
    bodies: list[str]  # each a JSON object text


class Outbox:
    """SQLite outbox shared by the scan loop (add) and the uploader (batch/ack/split)."""

    def __init__(self, path: Path, max_scans: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_scans = max_scans
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self.dropped = 0
        self._last_full_log = 0.0
        self.unreachable_since: str | None = None  # set by the uploader for the full-outbox log

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM scans").fetchone()[0])

    def dead_letters(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM dead_letter").fetchone()[0])

    def add(self, body: str, priority: int) -> None:
        """Commit one scan; make room first if the outbox is full."""
        with self._lock:
            depth = int(self._db.execute("SELECT count(*) FROM scans").fetchone()[0])
            excess = depth - self.max_scans + 1
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if excess > 0:
                    self._drop(excess, depth)
                self._db.execute(
                    "INSERT INTO scans (created, priority, body) VALUES (?, ?, ?)",
                    (time.time(), priority, body),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _drop(self, n: int, depth: int) -> None:
        rows = self._db.execute(
            "SELECT id, priority FROM scans ORDER BY priority, id LIMIT ?", (n,)
        ).fetchall()
        self._db.executemany("DELETE FROM scans WHERE id = ?", [(r[0],) for r in rows])
        self.dropped += len(rows)
        now = time.monotonic()
        if now - self._last_full_log >= 60 or self.dropped == len(rows):
            self._last_full_log = now
            kinds = {0: "heartbeat-only", 1: "value-change", 2: "ALARM-RELEVANT"}
            worst = kinds.get(max(r[1] for r in rows), "?") if rows else "none"
            log.error(
                "outbox full: %d scans waiting (max %d), portal unreachable since %s; "
                "dropping the oldest lowest-priority scans (now: %s), %d dropped so far",
                depth,
                self.max_scans,
                self.unreachable_since or "unknown",
                worst,
                self.dropped,
            )

    def next_batch(self, max_scans: int) -> Batch | None:
        """The oldest pending batch, or a new one stamped on the oldest unbatched scans."""
        with self._lock:
            row = self._db.execute(
                "SELECT batch FROM scans WHERE batch IS NOT NULL ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                ids = [
                    r[0]
                    for r in self._db.execute(
                        "SELECT id FROM scans WHERE batch IS NULL ORDER BY id LIMIT ?", (max_scans,)
                    )
                ]
                if not ids:
                    return None
                batch_id = str(uuid.uuid4())
                self._db.executemany(
                    "UPDATE scans SET batch = ? WHERE id = ?", [(batch_id, i) for i in ids]
                )
            else:
                batch_id = row[0]
            rows = self._db.execute(
                "SELECT id, body FROM scans WHERE batch = ? ORDER BY id", (batch_id,)
            ).fetchall()
        return Batch(batch_id, [r[0] for r in rows], [r[1] for r in rows])

    def ack(self, batch: Batch) -> None:
        """The portal stored the batch: forget its scans."""
        with self._lock:
            self._db.execute("DELETE FROM scans WHERE batch = ?", (batch.id,))

    def split(self, batch: Batch) -> None:
        """Re-stamp the two halves of a refused batch with new batch ids."""
        half = len(batch.scan_ids) // 2
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for part in (batch.scan_ids[:half], batch.scan_ids[half:]):
                new = str(uuid.uuid4())
                self._db.executemany(
                    "UPDATE scans SET batch = ? WHERE id = ?", [(new, i) for i in part]
                )
            self._db.execute("COMMIT")

    def dead_letter(self, batch: Batch, reason: str) -> None:
        """Move a scan the portal calls malformed out of the way, keeping it for inspection."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for sid, body in zip(batch.scan_ids, batch.bodies, strict=True):
                self._db.execute(
                    "INSERT INTO dead_letter (scan_id, created, reason, body) VALUES (?, ?, ?, ?)",
                    (sid, time.time(), reason, body),
                )
                self._db.execute("DELETE FROM scans WHERE id = ?", (sid,))
            self._db.execute("COMMIT")
        log.error("dead-lettered %d scan(s) of batch %s: %s", len(batch.scan_ids), batch.id, reason)
