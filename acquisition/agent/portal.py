"""The portal's HTTP API as the agent sees it (stdlib ``urllib`` only: nothing to install)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from . import __version__

try:  # orjson is faster on a small box, but optional
    import orjson

    def dumps(obj: Any) -> str:
        return orjson.dumps(obj).decode()

except ImportError:  # pragma: no cover - exercised where orjson is absent

    def dumps(obj: Any) -> str:
        return json.dumps(obj, separators=(",", ":"))


@dataclass(frozen=True)
class Reply:
    status: int  # HTTP status, or 0 for a connection error / timeout
    body: dict[str, Any]
    error: str = ""


class PortalClient:
    def __init__(self, base_url: str, token: str, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": f"bms-agent/{__version__}",
        }

    def _call(self, method: str, path: str, data: bytes | None = None) -> Reply:
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        # the scheme is checked at config load (http/https only)
        url = self.base_url + path
        req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310
                return Reply(resp.status, _json(resp.read()))
        except urllib.error.HTTPError as exc:
            raw = exc.read() if exc.fp else b""
            return Reply(exc.code, _json(raw), raw[:500].decode("utf-8", "replace"))
        except (OSError, ValueError) as exc:  # URLError, timeouts, resets, bad JSON
            return Reply(0, {}, f"{type(exc).__name__}: {exc}")

    def get_config(self) -> Reply:
        return self._call("GET", "/api/v1/agent/config/")

    def post_ingest(self, body: bytes) -> Reply:
        return self._call("POST", "/api/v1/ingest/", body)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
