"""Fixtures of the fault tests: a real SMTP server on loopback whose inbox they count."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alarms.conftest import SmtpServer, free_port
from tests.resilience.helpers import PrivateRedis


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """aiosmtpd on a free loopback port, for processes the test starts (``EMAIL_PORT``)."""
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of this test only (skips when redis-server is not installed)."""
    with PrivateRedis(tmp_path) as server:
        yield server
