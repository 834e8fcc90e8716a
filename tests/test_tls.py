"""TLS: the server's context and the client helper, with certificates made by trustme."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tcpchat.server import ChatServer
from tcpchat.tls import INSECURE_WARNING, client_context
from tests.faults import hardened_settings
from tests.helpers import LineClient


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
