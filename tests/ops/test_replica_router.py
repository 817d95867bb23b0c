"""The read-replica router: page reads of the fleet's data go to the replica only when one is
configured and only inside a marked request; writes and auth always go to the primary."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session

from acquisition.models import Reading
from bms_portal.routers import ReplicaRouter, replica_reads
from sites.models import Battery

router = ReplicaRouter()


def _with_replica(monkeypatch: Any) -> None:
    """As if DATABASE_REPLICA_URL were set (the connections themselves are not needed here)."""
    monkeypatch.setattr("bms_portal.routers.replica_configured", lambda: True)


def test_without_a_replica_everything_stays_on_the_primary() -> None:
    with replica_reads():
        assert router.db_for_read(Reading) is None


def test_marked_reads_of_fleet_data_go_to_the_replica(monkeypatch: Any) -> None:
    _with_replica(monkeypatch)
    assert router.db_for_read(Battery) is None
    with replica_reads():
        assert router.db_for_read(Battery) == "replica"
        assert router.db_for_read(Reading) == "replica"
        assert router.db_for_read(Session) is None
        assert router.db_for_read(get_user_model()) is None
        assert router.db_for_write(Battery) == "default"
    assert router.db_for_read(Battery) is None


def test_migrations_never_run_on_the_replica() -> None:
    assert router.allow_migrate("replica", "sites") is False
    assert router.allow_migrate("default", "sites") is True


def test_the_middleware_marks_only_page_reads(client: Any, monkeypatch: Any, fleet: Any) -> None:
    _with_replica(monkeypatch)
    seen: list[bool] = []
    original = ReplicaRouter.db_for_read

    def spy(self: ReplicaRouter, model: Any, **hints: Any) -> str | None:
        seen.append(original(self, model, **hints) == "replica")
        return None  # read from the primary anyway: the test has no second server

    monkeypatch.setattr(ReplicaRouter, "db_for_read", spy)
    client.force_login(fleet.manager)
    client.get("/")  # the fleet page (namespace "sites")
    assert any(seen)
    seen.clear()
    client.get("/api/v1/sites/")  # the API stays on the primary
    assert seen and not any(seen)
