"""A tiny HTTP control server (stdlib ``http.server`` in a thread) for tests and demos.

GET  /state    every unit's engineering values exactly as served (``Simulator.snapshot``)
GET  /relays   ``[bool, bool, bool, bool]``: the relay module's coils
POST /fault    ``{"address": 7, "kind": "thermal_runaway", "severity": 1.0}``: inject a fault now
POST /clear    ``{"address": 7}``: remove the unit's faults
POST /current  ``{"bank_cmu": 1, "current": -50.0}``: force a string current (``null`` releases)

It is a test fixture, not an API: no authentication, so bind it to loopback.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .simulator import Simulator

log = logging.getLogger("acquisition.simulator.control")


class _Handler(BaseHTTPRequestHandler):
    sim: Simulator  # set on the subclass made by ``start_control``

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("control: " + format, *args)

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/state":
            self._reply(200, self.sim.snapshot())
        elif self.path == "/relays":
            with self.sim.lock:
                self._reply(200, list(self.sim.coils))
        else:
            self._reply(404, {"error": f"no such path {self.path}"})

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body: must be a JSON object")
            if self.path == "/fault":
                self.sim.inject(
                    _int(body, "address"), str(body.get("kind")), float(body.get("severity", 1.0))
                )
            elif self.path == "/clear":
                self.sim.clear(_int(body, "address"))
            elif self.path == "/current":
                current = body.get("current")
                self.sim.force_current(
                    _int(body, "bank_cmu"), None if current is None else float(current)
                )
            else:
                self._reply(404, {"error": f"no such path {self.path}"})
                return
        except (ValueError, TypeError) as exc:
            self._reply(400, {"error": str(exc)})
            return
        self._reply(200, {"ok": True})


def _int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key}: must be an integer")
    return value


def start_control(sim: Simulator, host: str, port: int) -> ThreadingHTTPServer:
    """Start the control server in a daemon thread; call ``shutdown()`` on the result to stop."""
    handler = type("Handler", (_Handler,), {"sim": sim})
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, name="sim-control", daemon=True).start()
    return server
