"""`manage.py check --deploy` is clean under the documented production environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _production_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    for line in (ROOT / "deploy" / "production.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    secret = tmp_path / "secret_key"
    secret.write_text("q8Vx-" + "Zk3p9LmN2rT7wY4bH6jD1fG5sA0cE8uI" * 2)
    smtp = tmp_path / "smtp_password"
    smtp.write_text("not-used-by-the-check")
    env.update(
        SECRET_KEY_FILE=str(secret),
        EMAIL_HOST_PASSWORD_FILE=str(smtp),
        STATIC_ROOT=str(tmp_path / "static"),
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgresql://u@127.0.0.1/db"),
    )
    return env


def test_check_deploy_is_clean_with_the_production_env_file(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
