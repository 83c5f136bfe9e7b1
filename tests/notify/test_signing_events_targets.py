"""Standard Webhooks signatures, the bus-event mapping, and which targets may be called."""

from __future__ import annotations

import pytest

from backend.core.bus import Event
from backend.notify.delivery import retry_delay
from backend.notify.events import EventMapper
from backend.notify.signing import sign, signed_headers
from backend.notify.targets import TargetRefused, check_target, check_url, is_public

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_signature_matches_the_published_example() -> None:
    # The example of the Standard Webhooks specification.
    signature = sign(
        SPEC_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_reference_library_accepts_our_signatures() -> None:
    standardwebhooks = pytest.importorskip("standardwebhooks")
    import time

    body = b'{"type":"price.move","data":{"price_usd":1}}'
    headers = signed_headers(SPEC_SECRET, "msg_1", int(time.time()), body)
    assert standardwebhooks.Webhook(SPEC_SECRET).verify(body, headers)["type"] == "price.move"
    headers["webhook-signature"] = sign(SPEC_SECRET, "msg_2", int(time.time()), body)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(SPEC_SECRET).verify(body, headers)


def ev(channel: str, type_: str, **data: object) -> Event:
    return Event(channel, type_, dict(data))


def test_event_mapping() -> None:
    mapper = EventMapper(price_move_pct=2.0)
    assert [t for t, _ in mapper.map(ev("alerts", "miner.alert", rule="offline"))] == [
        "miner.alert",
        "miner.offline",
    ]
    resolved = mapper.map(ev("alerts", "miner.alert", rule="offline", state="resolved"))
    assert [t for t, _ in resolved] == ["miner.alert"]
    assert [t for t, _ in mapper.map(ev("alerts", "miner.alert", rule="temp"))] == ["miner.alert"]
    raised = mapper.map(ev("alerts", "alert.raised", rule="offline", state="active", miner_id="m"))
    assert [t for t, _ in raised] == ["miner.alert", "miner.offline"]
    assert raised[0][1]["event"] == "alert.raised" and raised[1][1]["miner_id"] == "m"
    acked = mapper.map(ev("alerts", "alert.acknowledged", rule="offline", state="acknowledged"))
    assert [t for t, _ in acked] == ["miner.alert"]
    cleared = mapper.map(ev("alerts", "alert.cleared", rule="offline", state="cleared"))
    assert [t for t, _ in cleared] == ["miner.alert"]
    pending = ev("issues", "approval.pending", id=3, state="awaiting_approval")
    assert [t for t, _ in mapper.map(pending)] == ["issue.pending"]
    assert mapper.map(pending) == []  # once per issue
    assert [t for t, _ in mapper.map(ev("issues", "issue.update", id=3, state="confirmed"))] == [
        "issue.confirmed"
    ]
    steps = [{"name": "anchor", "state": "done"}]
    anchored = ev("notarizations", "notary.update", id=9, steps=steps, tx_hash="0xab")
    assert [t for t, _ in mapper.map(anchored)] == ["notarization.anchored"]
    assert mapper.map(anchored) == []
    running = [{"name": "anchor", "state": "running"}]
    assert mapper.map(ev("notarizations", "notary.update", id=10, steps=running)) == []
    assert mapper.map(ev("prices", "price.tick", price_usd=100.0)) == []
    assert mapper.map(ev("prices", "price.tick", price_usd=101.9)) == []
    ((name, move),) = mapper.map(ev("prices", "price.tick", price_usd=97.0))
    assert name == "price.move" and move["direction"] == "down" and move["change_pct"] == -3.0
    assert mapper.map(ev("prices", "price.tick", price_usd="oops")) == []
    assert mapper.map(ev("health", "health.update", name="db")) == []


def test_retry_schedule_has_jitter_and_an_end() -> None:
    delays = [retry_delay([10.0, 60.0], 1) for _ in range(50)]
    assert all(8.0 <= d <= 12.0 for d in delays) and len(set(delays)) > 1
    assert 48.0 <= (retry_delay([10.0, 60.0], 2) or 0) <= 72.0
    assert retry_delay([10.0, 60.0], 3) is None


def test_url_rules() -> None:
    assert check_url("https://hooks.example.com/x", allow_http=False) == ("hooks.example.com", 443)
    for url in ("ftp://x/y", "https://", "http://example.com", "https://a:b@example.com/"):
        with pytest.raises(TargetRefused):
            check_url(url, allow_http=False)
    assert is_public("93.184.216.34")
    for address in (
        "127.0.0.1",
        "10.1.1.1",
        "192.168.0.2",
        "169.254.169.254",
        "::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "100.64.0.1",
        "224.0.0.1",
    ):
        assert not is_public(address), address


async def test_private_targets_are_refused_unless_allowed() -> None:
    with pytest.raises(TargetRefused, match="private"):
        await check_target("https://127.0.0.1/x", allow_private=False, allow_http=False)
    with pytest.raises(TargetRefused, match="private"):
        await check_target("https://localhost/x", allow_private=False, allow_http=False)
    assert await check_target("http://127.0.0.1:9/x", allow_private=True, allow_http=True) == [
        "127.0.0.1"
    ]
