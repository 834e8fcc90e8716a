"""Plain HTTP requests to the web listener, and reading ``/metrics`` as Prometheus would."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from tests.support.helpers import REPLY_TIMEOUT, LineClient


async def http_get(
    port: int, path: str, *headers: str, host: str = "127.0.0.1"
) -> tuple[str, dict[str, str], bytes]:
    """One GET over a raw socket: the status line, the headers (lower-case names), the body."""
    client = await LineClient.connect(port, host)
    try:
        request = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", *headers, "", ""]
        await client.send_bytes("\r\n".join(request).encode())
        async with asyncio.timeout(REPLY_TIMEOUT):
            raw = await client.reader.read()  # the server closes after one answer
    finally:
        await client.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    fields = {name.lower(): value.strip() for name, _, value in (x.partition(":") for x in lines)}
    return status, fields, body


#: One sample of a scrape: its name and its labels, as (name, value) pairs in order.
SampleKey = tuple[str, tuple[tuple[str, str], ...]]


async def scrape(port: int, *headers: str) -> dict[SampleKey, float]:
    """GET /metrics and parse it with prometheus-client's own parser: every sample by
    name and labels (``samples[("tcpchat_connections", (("door", "web"),))]``)."""
    status, _, body = await http_get(port, "/metrics", *headers)
    assert status == "HTTP/1.1 200 OK", (status, body)
    samples: dict[SampleKey, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[SampleKey, float], name: str, **labels: str) -> float:
    """One sample's value (KeyError naming it when the scrape lacks it)."""
    return samples[(name, tuple(sorted(labels.items())))]
