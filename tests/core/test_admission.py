"""Connection caps, counted with plain calls."""

from __future__ import annotations

import pytest

from tcpchat.core import admission as admission_module
from tcpchat.core.admission import DEFAULT_MAX_CLIENTS, DEFAULT_MAX_PER_IP, Admission, is_loopback


def test_defaults_are_ten_thousand_clients_and_thirty_two_per_address() -> None:
    """The documented defaults."""
    assert (DEFAULT_MAX_CLIENTS, DEFAULT_MAX_PER_IP) == (10_000, 32)


def test_connections_past_the_total_cap_are_refused_with_a_reason() -> None:
    """Once ``max_clients`` are in, the next one is told the server is full."""
    admission = Admission(max_clients=2, max_per_ip=10)
    assert admission.admit("192.0.2.1") is None
    assert admission.admit("192.0.2.2") is None
    assert "full" in (admission.admit("192.0.2.3") or "")
    admission.release("192.0.2.1")
    assert admission.admit("192.0.2.3") is None


def test_connections_past_the_per_address_cap_are_refused() -> None:
    """One address cannot take more than ``max_per_ip``; other addresses still can."""
    admission = Admission(max_clients=100, max_per_ip=2)
    assert admission.admit("198.51.100.7") is None
    assert admission.admit("198.51.100.7") is None
    assert "too many connections" in (admission.admit("198.51.100.7") or "")
    assert admission.admit("198.51.100.8") is None
    assert admission.count("198.51.100.7") == 2
    assert admission.total == 3


def test_refused_connections_are_not_counted() -> None:
    """Only admitted connections count, so refusals cannot lock an address out."""
    admission = Admission(max_clients=100, max_per_ip=1)
    admission.admit("2001:db8::1")
    for _ in range(5):
        assert admission.admit("2001:db8::1") is not None
    admission.release("2001:db8::1")
    assert admission.admit("2001:db8::1") is None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_is_exempt_from_the_per_address_cap_by_default(host: str) -> None:
    """Local users share loopback addresses, so only the total cap applies to them."""
    assert is_loopback(host)
    admission = Admission(max_clients=5, max_per_ip=1)
    assert all(admission.admit(host) is None for _ in range(5))
    assert admission.admit(host) is not None  # the total cap still holds


def test_loopback_can_be_capped_when_configured() -> None:
    """``limit_loopback`` applies the per-address cap to loopback too."""
    admission = Admission(max_clients=5, max_per_ip=1, limit_loopback=True)
    assert admission.admit("127.0.0.1") is None
    assert admission.admit("127.0.0.1") is not None


def test_an_address_under_its_cap_is_admitted_without_parsing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only an address at its cap is looked at for loopback: every other connection is cheap."""
    parsed: list[str] = []

    def counting(host: str) -> bool:
        parsed.append(host)
        return is_loopback(host)

    monkeypatch.setattr(admission_module, "is_loopback", counting)
    admission = Admission(max_clients=10, max_per_ip=2)
    assert admission.admit("127.0.0.1") is None
    assert admission.admit("127.0.0.1") is None
    assert parsed == []
    assert admission.admit("127.0.0.1") is None  # at its cap: loopback, so exempt
    assert parsed == ["127.0.0.1"]


def test_non_addresses_are_not_loopback() -> None:
    """Names and garbage are never taken for loopback (so they are capped)."""
    assert not is_loopback("localhost")
    assert not is_loopback("")
    assert not is_loopback("10.0.0.1")


def test_releasing_an_uncounted_address_is_a_bug() -> None:
    """Giving back a connection that was never counted raises instead of going negative."""
    with pytest.raises(ValueError, match="no connection"):
        Admission().release("192.0.2.1")
