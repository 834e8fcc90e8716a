"""The server password: the gate with plain calls, then the conversation over real sockets."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator

import pytest

from tcpchat.config import ServerSettings
from tcpchat.core.password import MAX_PASSWORD_TRIES, PasswordGate
from tcpchat.server.chat import ChatServer
from tests.support.helpers import LineClient

SECRET = "correct horse battery staple"


def test_the_right_password_opens_the_gate() -> None:
    """A correct attempt passes, whatever whitespace surrounds it."""
    gate = PasswordGate(SECRET)
    assert gate.attempt(f"  {SECRET} ")
    assert gate.passed


def test_three_wrong_tries_lock_the_gate() -> None:
    """After three wrong attempts even the right password is refused."""
    gate = PasswordGate(SECRET)
    assert MAX_PASSWORD_TRIES == 3
    assert not any(gate.attempt(wrong) for wrong in ("a", SECRET[:-1], SECRET + "x"))
    assert gate.locked
    assert not gate.attempt(SECRET)


def test_an_empty_password_is_refused() -> None:
    """A blank server password would protect nothing, so it is a configuration error."""
    with pytest.raises(ValueError, match="empty"):
        PasswordGate("   ")


def test_the_password_is_compared_with_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every attempt goes through ``hmac.compare_digest`` (a constant-time comparison)."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    PasswordGate(SECRET).attempt("guess")
    assert len(calls) == 1
    assert len(calls[0][0]) == len(calls[0][1]) == 32  # digests: no length is leaked


@pytest.fixture
async def locked_server() -> AsyncIterator[ChatServer]:
    """A server that asks for a password."""
    async with ChatServer(ServerSettings(host="127.0.0.1", port=0, password=SECRET)) as server:
        yield server


@pytest.fixture
async def guest(locked_server: ChatServer) -> AsyncIterator[LineClient]:
    """A raw client of the password-protected server, closed after the test."""
    line_client = await LineClient.connect(locked_server.port)
    yield line_client
    await line_client.close()


async def test_password_is_asked_before_registration(guest: LineClient) -> None:
    """A nickname sent before the password is taken as a wrong password, not a nickname."""
    await guest.expect(r"!!! this server needs a password")
    await guest.send("/nick alice")
    await guest.expect(r"!!! this server needs a password")
    await guest.send("alice")
    await guest.expect(r"!!! wrong password; 2 tries left")
    await guest.send(SECRET)
    await guest.expect(r"Password accepted")
    await guest.register("alice")


async def test_help_names_pass_while_the_password_is_due(guest: LineClient) -> None:
    """/help before the password lists /pass, the one command needed then."""
    await guest.expect(r"!!! this server needs a password")
    await guest.send("/help")
    await guest.expect(r"\*\*\*   /pass PASSWORD +give the server password")


async def test_password_can_be_given_with_pass_command(guest: LineClient) -> None:
    """``/pass PASSWORD`` works too, for passwords that start with '/'."""
    await guest.send(f"/pass {SECRET}")
    await guest.expect(r"Password accepted\. Choose a nickname")


async def test_three_wrong_passwords_close_the_connection(
    guest: LineClient, locked_server: ChatServer
) -> None:
    """The third wrong password ends the connection, and nobody joined."""
    await guest.send("one", "two", "three", SECRET)
    lines = await guest.expect_eof()
    assert any("too many tries, closing" in line for line in lines)
    assert not any("Password accepted" in line for line in guest.seen)
    assert len(locked_server.hub) == 0


async def test_json_clients_see_password_required_as_an_error_code(guest: LineClient) -> None:
    """After ``/format json`` the request comes as an ``error`` with code ``password_required``."""
    await guest.send("/format json")
    error = await guest.expect_json("error")
    assert error["code"] == "password_required"
    await guest.send("wrong")
    error = await guest.expect_json("error")
    assert error["code"] == "password_wrong"
    await guest.send(SECRET, "alice")
    welcome = await guest.expect_json("welcome")
    assert welcome["nick"] == "alice"


async def test_a_control_key_before_pass_does_not_spend_a_try(guest: LineClient) -> None:
    """`^L/pass PASSWORD` is the /pass command, not a wrong password `^L/pass ...`."""
    await guest.expect(r"!!! this server needs a password")
    await guest.send(f"\x0c/pass {SECRET}")
    await guest.expect(r"Password accepted\. Choose a nickname")
