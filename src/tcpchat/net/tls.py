"""TLS contexts for the server and the client, with safe defaults.

The server serves TLS 1.2 or later with its certificate chain and key. The
client verifies the server's certificate and host name against the system's
trust store, or against one CA file; ``insecure`` turns verification off,
for self-signed test setups only, and says so loudly in the log.
"""

from __future__ import annotations

import logging
import ssl
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tcpchat.config import ServerSettings

log = logging.getLogger("tcpchat.tls")

INSECURE_WARNING = (
    "TLS certificate verification is OFF (--insecure): anyone on the network path can "
    "read and change this chat. Use this only with a self-signed test server."
)


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server context for ``cert_file`` (PEM chain) and ``key_file`` (PEM key).

    Raises OSError for unreadable files and ssl.SSLError for a key that does
    not match the certificate.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


def tls_server_context(settings: ServerSettings) -> ssl.SSLContext | None:
    """The context for a server's ``--tls-cert`` and ``--tls-key``, or None for plain TCP."""
    if not settings.tls_cert:
        return None
    return server_context(settings.tls_cert, settings.tls_key)


def client_context(ca_file: str | None = None, insecure: bool = False) -> ssl.SSLContext:
    """A client context: verify against ``ca_file``, or the system store when it is None.

    ``insecure`` disables certificate and host-name checks and logs a warning.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if insecure:
        log.warning(INSECURE_WARNING)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
