"""Client IPs behind (un)trusted proxies, and the sliding-window limits."""

from __future__ import annotations

from backend.core.client_ip import client_ip, is_public, parse_networks
from backend.core.clock import ManualClock
from backend.core.sliding_window import SlidingWindow

PROXIES = parse_networks("10.0.0.0/8, 127.0.0.1")


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() -> None:
    assert client_ip("203.0.113.9", "24.48.0.1", ()) == "203.0.113.9"
    assert client_ip("203.0.113.9", "24.48.0.1", PROXIES) == "203.0.113.9"  # peer not trusted
    assert client_ip("127.0.0.1", "24.48.0.1", PROXIES) == "24.48.0.1"
    # a client prepending its own choice gains nothing: read from the right
    assert client_ip("127.0.0.1", "1.2.3.4, 24.48.0.1, 10.1.1.1", PROXIES) == "24.48.0.1"
    assert client_ip("127.0.0.1", "10.2.2.2, 10.1.1.1", PROXIES) == "10.2.2.2"
    assert client_ip("127.0.0.1", "24.48.0.1, nonsense", PROXIES) == "127.0.0.1"
    assert client_ip("127.0.0.1", None, PROXIES) == "127.0.0.1"
    assert client_ip(None, "24.48.0.1", PROXIES) == "unknown"


def test_only_global_addresses_are_public() -> None:
    assert is_public("24.48.0.1") and is_public("2a00:1450:4001:81b::200e")
    for address in (
        "127.0.0.1",
        "10.0.0.1",
        "192.168.1.1",
        "169.254.1.1",
        "::1",
        "fc00::1",
        "100.64.0.1",
        "240.0.0.1",
        "224.0.0.1",
        "0.0.0.0",
        "junk",
    ):
        assert not is_public(address), address


def test_sliding_window_limits_per_key_and_recovers() -> None:
    clock = ManualClock()
    window = SlidingWindow(2, 60.0, clock)
    assert window.hit("a") is None and window.hit("a") is None
    wait = window.hit("a")
    assert wait is not None and 59 < wait <= 60
    assert window.hit("b") is None  # other keys are independent
    clock.advance(30)
    assert window.hit("a") is not None  # a refused hit is not counted
    clock.advance(30.1)
    assert window.hit("a") is None
