"""Sign-in rate limit: N failures per username and address block that pair for the window."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import make_user

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def _login(client: Any, username: str, password: str, ip: str = "127.0.0.1") -> Any:
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def _fail(client: Any, username: str, times: int, ip: str = "127.0.0.1") -> None:
    for _ in range(times):
        assert _login(client, username, "wrong", ip).status_code == 200


def test_wrong_passwords_block_even_the_right_one(client: Any, settings: Any) -> None:
    settings.LOGIN_RATE_LIMIT_ATTEMPTS = 3
    make_user("alice")
    _fail(client, "alice", 3)

    response = _login(client, "alice", "alice-pw")

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_other_users_and_other_addresses_are_not_affected(client: Any, settings: Any) -> None:
    settings.LOGIN_RATE_LIMIT_ATTEMPTS = 3
    make_user("alice")
    make_user("bob")
    _fail(client, "alice", 3)

    assert _login(client, "bob", "bob-pw").status_code == 302
    client.logout()
    assert _login(client, "alice", "alice-pw", ip="192.0.2.7").status_code == 302


def test_fewer_failures_than_the_limit_still_sign_in(client: Any, settings: Any) -> None:
    settings.LOGIN_RATE_LIMIT_ATTEMPTS = 3
    make_user("alice")
    _fail(client, "alice", 2)
    assert _login(client, "alice", "alice-pw").status_code == 302


def test_the_block_ends_when_the_window_has_passed(client: Any, settings: Any) -> None:
    settings.LOGIN_RATE_LIMIT_ATTEMPTS = 2
    settings.LOGIN_RATE_LIMIT_WINDOW_S = 2
    make_user("alice")
    _fail(client, "alice", 2)
    assert _login(client, "alice", "alice-pw").status_code == 429

    time.sleep(2.2)

    assert _login(client, "alice", "alice-pw").status_code == 302


def test_the_admin_sign_in_is_limited_too(client: Any, settings: Any) -> None:
    settings.LOGIN_RATE_LIMIT_ATTEMPTS = 2
    make_user("root", superuser=True)
    _fail(client, "root", 2)

    response = client.post(
        "/admin/login/?next=/admin/", {"username": "root", "password": "root-pw"}
    )

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
