"""Hand-off of stored batches to the alarms app: one Celery message per short window per process.

Publishing a Celery message costs about a millisecond of Python (kombu, serialisation, a Redis
round trip), as much as the rest of the ingest's request handling together. So the ingest does not
publish per request: it gives the payload to this process's ``HandOff``, whose thread waits
``INGEST_HANDOFF_WINDOW_MS`` after the first payload, then publishes everything collected as one
``alarms.tasks.evaluate_batches`` message (at most ``MAX_PER_MESSAGE`` payloads). At one request per
scan per gateway a web process holding a few hundred gateways sends a few messages per second, not
one per request, and the alarm worker pays its per-task overhead once per message too.

Nothing is lost with the thread: every payload's ``AlarmHandoff`` row was committed with the
readings, and the alarms sweep queues again the rows still there after ``ALARMS_HANDOFF_RETRY_S``
(a process killed inside its window, a broker that was down). With no broker (eager Celery: the
embedded demo and most tests) a payload is evaluated at once, in the request, as before.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import Any

from django.conf import settings
from kombu.exceptions import OperationalError as KombuOperationalError

log = logging.getLogger(__name__)

MAX_PER_MESSAGE = 200


def publish(payloads: list[dict[str, Any]]) -> None:
    """Queue the evaluation of ``payloads``, at most ``MAX_PER_MESSAGE`` to a message. When the
    broker is unreachable their ``AlarmHandoff`` rows stay, and the alarms sweep queues them
    again."""
    from alarms.tasks import evaluate_batches  # the alarms app reads acquisition: import here

    for first in range(0, len(payloads), MAX_PER_MESSAGE):
        chunk = payloads[first : first + MAX_PER_MESSAGE]
        gateways = sorted({p["gateway"] for p in chunk})
        # A short argsrepr: Celery would otherwise saferepr() every id list for its headers.
        try:
            evaluate_batches.apply_async(
                (chunk,), argsrepr=f"(<{len(chunk)} batches of gateways {gateways}>,)"
            )
        except (KombuOperationalError, OSError) as exc:
            log.warning(
                "broker unreachable, evaluation of %d batches (gateways %s) deferred to the "
                "sweep: %s",
                len(chunk),
                gateways,
                exc,
            )


class HandOff:
    """Collects payloads and publishes them in windows from a thread of this process."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.pending: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.pid = os.getpid()
        self.thread = threading.Thread(target=self._run, name="alarm-handoff", daemon=True)
        self.thread.start()

    def submit(self, payload: dict[str, Any]) -> None:
        with self.cond:
            self.pending.append(payload)
            if len(self.pending) == 1:
                self.cond.notify()

    def _take(self) -> list[dict[str, Any]]:
        with self.cond:
            while not self.pending:
                self.cond.wait()
        time.sleep(self.window_s)  # let the window fill
        return self.drain()

    def drain(self) -> list[dict[str, Any]]:
        with self.cond:
            taken, self.pending = self.pending, []
        return taken

    def _run(self) -> None:
        while True:
            taken = self._take()
            try:
                publish(taken)
            except Exception:  # never let the thread die: the sweep recovers these batches
                log.exception("hand-off of %d batches failed", len(taken))

    def flush(self) -> None:
        """Publish what is waiting now (at process exit)."""
        publish(self.drain())


_current: HandOff | None = None
_lock = threading.Lock()


def _handoff() -> HandOff:
    """This process's collector (a forked gunicorn worker starts its own thread)."""
    global _current
    with _lock:
        if _current is None or _current.pid != os.getpid():
            _current = HandOff(settings.INGEST_HANDOFF_WINDOW_MS / 1000)
            atexit.register(_current.flush)
        return _current


def hand_off(payload: dict[str, Any]) -> None:
    """Queue the alarm evaluation of one stored batch (called after its commit)."""
    from bms_portal.celery import app

    if app.conf.task_always_eager or settings.INGEST_HANDOFF_WINDOW_MS == 0:
        publish([payload])  # eager: evaluated here and now
        return
    _handoff().submit(payload)
