"""Bad configuration stops the start-up with a message naming the variable to fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _start(
    env_changes: dict[str, str | None],
    code: str = "import django; django.setup(); print('started')",
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "SECRET_KEY"))}
    env.update({"DATABASE_URL": "postgresql://u@127.0.0.1:5432/db", "SECRET_KEY": "k" * 40})
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env | {"DJANGO_SETTINGS_MODULE": "bms_portal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_valid_environment_starts():
    assert _start({}).stdout.strip() == "started"


def _setting(name: str, env_changes: dict[str, str | None]) -> str:
    code = "import django; django.setup(); from django.conf import settings; "
    code += f"print(settings.{name})"
    result = _start(env_changes, code)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_with_redis_sessions_are_read_from_the_cache_and_kept_in_the_database():
    cached_db = "django.contrib.sessions.backends.cached_db"
    assert _setting("SESSION_ENGINE", {"REDIS_URL": "redis://127.0.0.1:6379/0"}) == cached_db
    # without Redis the cache is a database table: sessions stay plain database sessions
    assert _setting("SESSION_ENGINE", {"REDIS_URL": None}) == "django.contrib.sessions.backends.db"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"DATABASE_URL": None}, "environment variable DATABASE_URL is required"),
        ({"DATABASE_URL": "sqlite:///db.sqlite3"}, "DATABASE_URL must start with postgresql://"),
        ({"DATABASE_URL": "postgresql://u@h:99999/db"}, "DATABASE_URL has a malformed port"),
        ({"SECRET_KEY": None}, "environment variable SECRET_KEY is required"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be at least 32 characters"),
        (
            {"SECRET_KEY": None, "SECRET_KEY_FILE": "/nonexistent/key"},
            "SECRET_KEY_FILE='/nonexistent/key'",
        ),
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"EMAIL_PORT": "smtp"}, "EMAIL_PORT='smtp' is not an integer"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml' must be 'text' or 'json'"),
    ],
)
def test_bad_configuration_names_the_variable(changes, message):
    result = _start(changes)
    assert result.returncode != 0
    assert message in result.stderr


def test_secret_key_can_come_from_a_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("f" * 50 + "\n")
    assert (
        _start({"SECRET_KEY": None, "SECRET_KEY_FILE": str(key_file)}).stdout.strip() == "started"
    )
