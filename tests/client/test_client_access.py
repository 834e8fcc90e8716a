"""The client's way into guarded servers: TLS, and the server password."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from tcpchat.cli import main
from tcpchat.client.chat import ChatClient
from tcpchat.client.chatstate import ChatState
from tcpchat.config import ClientSettings
from tcpchat.net.tls import client_context
from tcpchat.server.chat import ChatServer
from tcpchat.server.direct import DirectServer
from tcpchat.tui.terminal import PromptFrontend
from tests.support.faults import clients, hardened_settings, running_server
from tests.support.frontends import ScriptedFrontend

SECRET = "correct horse battery staple"
PASSWORD_VARIABLE = "TCPCHAT_TEST_SERVER_PASSWORD"

Starter = Callable[..., tuple[ChatClient, ScriptedFrontend]]


@pytest.fixture
async def start_client() -> AsyncIterator[Starter]:
    """Start ChatClients in the background; cancelled and awaited after the test."""
    tasks: list[asyncio.Task[int]] = []

    def start(
        port: int, *, tls: ssl.SSLContext | None = None, **settings: Any
    ) -> tuple[ChatClient, ScriptedFrontend]:
        client_settings = ClientSettings(host="127.0.0.1", port=port, **settings)
        frontend = ScriptedFrontend()
        state = ChatState(f"127.0.0.1:{port}", client_settings.nick)
        chat_client = ChatClient(client_settings, frontend, state, ssl=tls)
        tasks.append(asyncio.create_task(chat_client.run()))
        return chat_client, frontend

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def locked_server() -> AsyncIterator[ChatServer]:
    """A server that wants a password before a nickname."""
    async with running_server(password=SECRET) as server:
        yield server


async def test_password_from_the_environment_is_given_without_asking(
    locked_server: ChatServer, start_client: Starter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --password-env, the client answers the server's request by itself."""
    monkeypatch.setenv(PASSWORD_VARIABLE, SECRET)
    _, frontend = start_client(locked_server.port, nick="alice", password_env=PASSWORD_VARIABLE)
    await frontend.expect(r"\*\*\* Welcome, alice!")
    assert not frontend.ever_concealed
    assert not any("password" in line for line in frontend.shown)


async def test_password_is_asked_for_with_the_input_concealed(
    locked_server: ChatServer, start_client: Starter
) -> None:
    """Without --password-env, the user is asked, typing hidden, until the server agrees."""
    _, frontend = start_client(locked_server.port, nick="alice")
    await frontend.expect(r"!!! this server needs a password")
    assert frontend.concealed
    frontend.type("guess")
    await frontend.expect(r"!!! wrong password; 2 tries left")
    frontend.type(SECRET)
    await frontend.expect(r"\*\*\* Welcome, alice!")
    assert not frontend.concealed
    assert not any(SECRET in line or "guess" in line for line in frontend.shown)


async def test_a_wrong_password_in_the_environment_falls_back_to_asking(
    locked_server: ChatServer, start_client: Starter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stale password in the environment is tried once; then the user is asked."""
    monkeypatch.setenv(PASSWORD_VARIABLE, "stale")
    _, frontend = start_client(locked_server.port, nick="alice", password_env=PASSWORD_VARIABLE)
    await frontend.expect(r"!!! wrong password; 2 tries left")
    assert frontend.concealed
    frontend.type(SECRET)
    await frontend.expect(r"\*\*\* Welcome, alice!")


async def test_concealed_input_is_kept_out_of_the_history() -> None:
    """A password typed at the prompt is masked and never saved in the history."""
    history = InMemoryHistory()
    with create_pipe_input() as pipe:
        frontend = PromptFrontend(
            prompt=lambda: "> ",
            toolbar=list,
            completer=None,
            history=history,
            input=pipe,
            output=DummyOutput(),
        )
        frontend.conceal_input(True)
        pipe.send_text(f"{SECRET}\r")
        async with asyncio.timeout(5):
            assert await frontend.read_line() == SECRET
        frontend.conceal_input(False)
        pipe.send_text("hello\r")
        async with asyncio.timeout(5):
            assert await frontend.read_line() == "hello"
    assert list(history.load_history_strings()) == ["hello"]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """A test CA and a certificate for 127.0.0.1: (ca file, cert file, key file)."""
    directory: Path = tmp_path_factory.mktemp("client-tls")
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    files = (directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    ca.cert_pem.write_to_path(str(files[0]))
    for number, pem in enumerate(issued.cert_chain_pems):
        pem.write_to_path(str(files[1]), append=number > 0)
    issued.private_key_pem.write_to_path(str(files[2]))
    return str(files[0]), str(files[1]), str(files[2])


async def test_client_chats_over_verified_tls(
    certificates: tuple[str, str, str], start_client: Starter
) -> None:
    """--tls-ca: the client verifies the server against the CA and chats as usual."""
    ca_file, cert_file, key_file = certificates
    async with running_server(tls_cert=cert_file, tls_key=key_file) as server:
        _, frontend = start_client(server.port, nick="alice", tls=client_context(ca_file))
        await frontend.expect(r"\*\*\* Welcome, alice! 1 user online: alice")


async def test_client_refuses_an_unverified_server(
    certificates: tuple[str, str, str], start_client: Starter
) -> None:
    """--tls without the CA: a self-signed server is refused, and the user is told why."""
    _, cert_file, key_file = certificates
    async with running_server(tls_cert=cert_file, tls_key=key_file) as server:
        _, frontend = start_client(server.port, nick="alice", tls=client_context())
        await frontend.expect(r"cannot connect to .*: its TLS certificate could not be verified")
        assert not any("Welcome" in line for line in frontend.shown)


async def test_1to1_chat_over_tls(certificates: tuple[str, str, str]) -> None:
    """`serve --task 1` with a certificate speaks TLS; `connect --task 1 --tls-ca` chats."""
    ca_file, cert_file, key_file = certificates
    settings = hardened_settings(tls_cert=cert_file, tls_key=key_file)
    console = ScriptedFrontend()
    server = DirectServer(settings, console)
    await server.start()
    serving = asyncio.create_task(server.run())
    frontend = ScriptedFrontend()
    client_settings = ClientSettings(host="127.0.0.1", port=server.port)
    state = ChatState(f"127.0.0.1:{server.port}", direct=True)
    chat_client = ChatClient(
        client_settings, frontend, state, direct=True, ssl=client_context(ca_file)
    )
    chatting = asyncio.create_task(chat_client.run())
    try:
        await frontend.expect(r"you are chatting with its operator")
        frontend.type("hello over tls")
        await console.expect(r"<guest> hello over tls$")
    finally:
        for task in (chatting, serving):
            task.cancel()
        await asyncio.gather(chatting, serving, return_exceptions=True)


def test_a_password_is_refused_for_the_1to1_chat(capsys: pytest.CaptureFixture[str]) -> None:
    """--password with --task 1 is a usage error, not a server that silently ignores it."""
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--task", "1", "--password", "secret", "--port", "0"])
    assert exited.value.code == 2
    assert "--password is for the multi-client room" in capsys.readouterr().err


async def test_a_typed_password_is_kept_for_reconnections(start_client: Starter) -> None:
    """After a reconnection the accepted password is given again, without asking, and a
    line typed meanwhile goes out as chat, not as a password."""
    async with running_server(password=SECRET) as first:
        port = first.port
        _, frontend = start_client(port, nick="alice", reconnect=True)
        await frontend.expect(r"!!! this server needs a password")
        frontend.type(SECRET)
        await frontend.expect(r"\*\*\* Welcome, alice!")
    await frontend.expect("reconnecting in")
    frontend.type("back again")
    async with (
        running_server(password=SECRET, port=port) as second,
        clients(second.port) as open_client,
    ):
        bob = await open_client()
        await bob.expect("this server needs a password")
        await bob.send(f"/pass {SECRET}", "bob")
        await bob.expect(r"<alice> back again$")
    assert sum("needs a password" in line for line in frontend.shown) == 1
