"""deploy/: the compose file parses and names every process, shell scripts parse, units name
what exists, the production settings keep /metrics reachable on plain http from loopback."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_compose_file_parses_and_names_every_service() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {
        "postgres",
        "redis",
        "migrate",
        "web",
        "worker-alarms",
        "worker-default",
        "worker-forecasting",
        "beat",
    }
    for queue in ("alarms", "default", "forecasting"):
        command = services[f"worker-{queue}"]["command"]
        assert command[command.index("-Q") + 1] == queue
    for name in ("web", "beat", "worker-alarms", "migrate"):
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
        assert services[name]["environment"]["SECRET_KEY_FILE"].startswith("/run/secrets/")
    assert services["web"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }
    assert (DEPLOY / "Dockerfile").exists()


@pytest.mark.parametrize("script", ["install-agent.sh", "backup.sh", "restore.sh"])
def test_shell_scripts_parse(script: str) -> None:
    path = DEPLOY / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    subprocess.run(["bash", "-n", str(path)], check=True)


def test_agent_config_example_is_a_valid_agent_config(tmp_path: Path) -> None:
    from acquisition.agent.config import load_local

    token = tmp_path / "token"
    token.write_text("t0ken")
    text = (DEPLOY / "agent.toml.example").read_text()
    text = text.replace("/etc/bms-agent/token", str(token))
    text = text.replace("/var/lib/bms-agent", str(tmp_path / "state"))
    (tmp_path / "agent.toml").write_text(text)
    config = load_local(tmp_path / "agent.toml")
    assert config.token == "t0ken" and config.health_listen == ("127.0.0.1", 9105)


@pytest.mark.django_db
def test_metrics_and_healthz_are_not_redirected_to_https(client: Any, settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/metrics").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 301
