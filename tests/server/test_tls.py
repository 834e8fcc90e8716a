"""TLS: the server's context and the client helper, with certificates made by trustme."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from websockets.asyncio.client import connect as websocket_connect
from websockets.typing import Origin

from tcpchat.net.tls import INSECURE_WARNING, client_context
from tcpchat.server.chat import ChatServer
from tcpchat.server.direct import DirectServer
from tests.support.faults import hardened_settings, wait_until
from tests.support.frontends import ScriptedFrontend
from tests.support.helpers import BUSY_REFUSAL, LineClient


@dataclass(frozen=True)
class Certificates:
    """A test CA and a server certificate for localhost and 127.0.0.1, as PEM files."""

    ca_file: str
    cert_file: str
    key_file: str


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """Certificates made once for this module."""
    directory: Path = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    files = Certificates(
        str(directory / "ca.pem"), str(directory / "cert.pem"), str(directory / "key.pem")
    )
    ca.cert_pem.write_to_path(files.ca_file)
    for number, pem in enumerate(issued.cert_chain_pems):
        pem.write_to_path(files.cert_file, append=number > 0)
    issued.private_key_pem.write_to_path(files.key_file)
    return files


@pytest.fixture
async def tls_server(certificates: Certificates) -> AsyncIterator[ChatServer]:
    """A server speaking TLS with the test certificate."""
    settings = hardened_settings(tls_cert=certificates.cert_file, tls_key=certificates.key_file)
    async with ChatServer(settings) as server:
        yield server


async def connect(port: int, context: ssl.SSLContext, hostname: str = "localhost") -> LineClient:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname=hostname, limit=1 << 20
    )
    return LineClient(reader, writer)


async def test_tls_clients_verified_against_the_ca_can_chat(
    tls_server: ChatServer, certificates: Certificates
) -> None:
    """Two clients that trust the CA register and chat over TLS."""
    context = client_context(certificates.ca_file)
    alice = await connect(tls_server.port, context)
    bob = await connect(tls_server.port, context)
    try:
        await alice.register("alice")
        await bob.register("bob")
        await alice.send("over tls")
        await bob.expect(r"<alice> over tls$")
        assert alice.writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
    finally:
        await alice.close()
        await bob.close()


async def test_an_untrusted_certificate_is_refused_by_default(tls_server: ChatServer) -> None:
    """With the system store only, a certificate from an unknown CA fails verification."""
    with pytest.raises(ssl.SSLCertVerificationError):
        await connect(tls_server.port, client_context())


async def test_a_certificate_for_another_host_is_refused(
    tls_server: ChatServer, certificates: Certificates
) -> None:
    """The host name is checked, not only the signature."""
    with pytest.raises(ssl.SSLCertVerificationError):
        await connect(tls_server.port, client_context(certificates.ca_file), "chat.example.org")


async def test_insecure_connects_to_anything_and_says_so_loudly(
    tls_server: ChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    """``insecure`` skips verification, for self-signed test setups, with a warning."""
    caplog.set_level(logging.WARNING, logger="tcpchat.tls")
    client = await connect(tls_server.port, client_context(insecure=True), "chat.example.org")
    try:
        await client.expect("Choose a nickname")
    finally:
        await client.close()
    assert [r.getMessage() for r in caplog.records] == [INSECURE_WARNING]


async def test_a_plain_client_on_the_tls_port_gets_no_chat(tls_server: ChatServer) -> None:
    """A plain-text client gets nothing readable from a TLS port, and the server keeps serving."""
    plain = await LineClient.connect(tls_server.port)
    try:
        await plain.send("alice")
        lines = await plain.expect_eof()
        assert not any("Welcome" in line for line in lines)
    finally:
        await plain.close()
    assert len(tls_server.hub) == 0


async def test_half_a_tls_configuration_is_refused(certificates: Certificates) -> None:
    """A certificate without its key (or the reverse) is a configuration error, not plain text."""
    with pytest.raises(ValueError, match="both --tls-cert and --tls-key"):
        hardened_settings(tls_cert=certificates.cert_file)


def test_client_context_requires_tls_1_2_and_verifies_by_default() -> None:
    """The client helper verifies certificates and host names, with TLS 1.2 at least."""
    context = client_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2


@contextlib.asynccontextmanager
async def silent_connections(port: int, count: int) -> AsyncIterator[list[LineClient]]:
    """``count`` plain TCP connections that never start their TLS handshake; closed after."""
    opened = [await LineClient.connect(port) for _ in range(count)]
    try:
        yield opened
    finally:
        for silent in opened:
            await silent.close()


async def test_silent_tls_connections_past_the_caps_are_closed(
    certificates: Certificates,
) -> None:
    """Connections are counted when accepted: past the caps they are closed, unanswered."""
    settings = hardened_settings(
        tls_cert=certificates.cert_file,
        tls_key=certificates.key_file,
        max_per_ip=2,
        max_clients=3,
        limit_loopback=True,
    )
    async with ChatServer(settings) as server, silent_connections(server.port, 10) as silent:
        for extra in silent[2:]:
            assert await extra.expect_eof() == []
        assert server.admission.total == 2
        for waiting in silent[:2]:
            assert not waiting.reader.at_eof()


async def test_a_handshake_that_never_finishes_is_closed_within_the_register_timeout(
    certificates: Certificates,
) -> None:
    """A connection that never sends a ClientHello is closed once register_timeout is up."""
    settings = hardened_settings(
        tls_cert=certificates.cert_file, tls_key=certificates.key_file, register_timeout=0.3
    )
    async with ChatServer(settings) as server, silent_connections(server.port, 1) as (silent,):
        assert await silent.expect_eof() == []
        await wait_until(lambda: server.admission.total == 0)


async def test_handshake_and_registration_share_one_register_timeout(
    certificates: Certificates,
) -> None:
    """A client slow to shake hands has only what is left of register_timeout to register.

    The client waits on purpose before its handshake (it plays a slow client):
    from accept to registered is one time-out, not a handshake's and then another.
    """
    timeout = 1.0
    settings = hardened_settings(
        tls_cert=certificates.cert_file, tls_key=certificates.key_file, register_timeout=timeout
    )
    async with ChatServer(settings) as server:
        loop = asyncio.get_running_loop()
        accepted = loop.time()
        slow = await LineClient.connect(server.port)
        try:
            await asyncio.sleep(timeout * 0.6)
            await slow.writer.start_tls(
                client_context(certificates.ca_file), server_hostname="localhost"
            )
            await slow.expect(r"!!! no nickname was chosen in time")
            await slow.expect_eof()
            assert loop.time() - accepted < timeout * 1.4
        finally:
            await slow.close()


async def test_a_1to1_chat_refuses_a_second_tls_client_as_busy(
    certificates: Certificates,
) -> None:
    """Over TLS too, a second client of the 1:1 chat is told it is busy, in one line."""
    settings = hardened_settings(tls_cert=certificates.cert_file, tls_key=certificates.key_file)
    server = DirectServer(settings, ScriptedFrontend())
    await server.start()
    context = client_context(certificates.ca_file)
    first = await connect(server.port, context)
    try:
        await first.expect(r"You are connected to the operator")
        second = await connect(server.port, context)
        [refusal] = await second.expect_eof()
        assert BUSY_REFUSAL.fullmatch(refusal)
        await second.close()
    finally:
        await first.close()
        await server.close()


async def test_a_silent_tls_connection_holds_the_1to1_chat_only_until_the_time_out(
    certificates: Certificates,
) -> None:
    """A 1:1 client that never shakes hands is closed at register_timeout; the next one chats."""
    settings = hardened_settings(
        tls_cert=certificates.cert_file, tls_key=certificates.key_file, register_timeout=0.3
    )
    console = ScriptedFrontend()
    server = DirectServer(settings, console)
    await server.start()
    try:
        async with silent_connections(server.port, 1) as (silent,):
            assert await silent.expect_eof() == []
        guest = await connect(server.port, client_context(certificates.ca_file))
        await guest.expect(r"You are connected to the operator")
        await guest.send("made it")
        await console.expect(r"<guest> made it$")
        await guest.close()
    finally:
        await server.close()


async def test_closing_the_server_cuts_handshakes_in_progress(
    certificates: Certificates,
) -> None:
    """A connection still in its TLS handshake does not hold up or upset the shutdown."""
    settings = hardened_settings(tls_cert=certificates.cert_file, tls_key=certificates.key_file)
    server = ChatServer(settings)
    await server.start()
    async with silent_connections(server.port, 3) as silent:
        await wait_until(lambda: server.admission.total == 3)
        async with asyncio.timeout(settings.close_timeout):
            await server.close()
        for waiting in silent:
            assert await waiting.expect_eof() == []
    assert server.admission.total == 0


async def test_closing_the_1to1_chat_cuts_a_handshake_in_progress(
    certificates: Certificates,
) -> None:
    """The 1:1 chat closes at once even while a client is in its TLS handshake."""
    settings = hardened_settings(tls_cert=certificates.cert_file, tls_key=certificates.key_file)
    console = ScriptedFrontend()
    server = DirectServer(settings, console)
    await server.start()
    async with silent_connections(server.port, 1) as (silent,):
        # The chat's place is held: a second client is refused while the first shakes hands.
        second = await connect(server.port, client_context(certificates.ca_file))
        assert BUSY_REFUSAL.fullmatch((await second.expect_eof())[0])
        await second.close()
        async with asyncio.timeout(settings.close_timeout):
            await server.close()
        assert await silent.expect_eof() == []


async def test_the_web_listener_speaks_tls_too(certificates: Certificates) -> None:
    """With TLS configured, the page is served over https and /ws is wss, into the same room."""
    settings = hardened_settings(
        http_port=0, tls_cert=certificates.cert_file, tls_key=certificates.key_file
    )
    context = client_context(certificates.ca_file)
    async with ChatServer(settings) as server:
        assert server.web_url == f"https://127.0.0.1:{server.http_port}/"
        page = await connect(server.http_port, context)
        try:
            await page.send_bytes(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            await page.expect(r"^HTTP/1\.1 200 OK")
        finally:
            await page.close()
        bob = await connect(server.port, context)
        url = f"wss://localhost:{server.http_port}/ws"
        origin = Origin(f"https://localhost:{server.http_port}")
        try:
            await bob.register("bob")
            async with websocket_connect(url, ssl=context, origin=origin) as alice:
                await alice.recv()  # the greeting
                await alice.send("alice")
                await bob.expect(r"\*\*\* alice joined")
                await bob.send("hello over wss")
                while json.loads(await alice.recv())["type"] != "message":
                    pass
        finally:
            await bob.close()
