"""``GET /healthz``: a small JSON status page for the box's monitoring (stdlib HTTP server).

200 while the agent scans on time; 503 when no scan finished within three scan intervals, so a
plain HTTP check (systemd, Nagios, a load-balancer probe) notices a stuck agent.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)


class HealthServer:
    def __init__(
        self, host: str, port: int, status: Callable[[], tuple[bool, dict[str, Any]]]
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] not in ("/healthz", "/healthz/"):
                    self.send_error(404)
                    return
                ok, body = outer.status()
                raw = json.dumps(body).encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("health: " + format, *args)

        self.status = status
        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="health", daemon=True)

    def start(self) -> None:
        self.thread.start()
        host, port = self.httpd.server_address[:2]
        log.info("health endpoint on http://%s:%d/healthz", host, port)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
