"""Alert rules, flapping suppression, the raise/clear lifecycle on the bus, and SMTP delivery."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from backend.core.bus import EventBus
from backend.core.clock import ManualClock
from backend.core.db import Database
from backend.core.health import HealthRegistry
from backend.fleet.alert_email import AlertMailer
from backend.fleet.alerts import Alert, AlertBook, Condition, RuleSet, SweepAlerts
from backend.fleet.normalize import Board, MinerSnapshot, Pool
from backend.settings import Settings
from backend.sim.fleet import Fault, FleetSimulator
from hashinsight_contract.events import AlertSilenced, parse_payload
from tests.fleet.fleet_helpers import drain, make_poller, specs_for

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def healthy(**changes: Any) -> MinerSnapshot:
    snap = MinerSnapshot(
        status="online",
        model="Antminer S19 Pro",
        hashrate_ths=108.0,
        hashrate_avg_ths=109.0,
        hashrate_expected_ths=110.0,
        temp_inlet_c=25.0,
        temp_board_max_c=65.0,
        temp_chip_max_c=72.0,
        fans_rpm=[5600, 5500, 5700, 5600],
        boards=[Board(i, 114, 114, 0) for i in range(3)],
        pools=[
            Pool("stratum+tcp://pool.example:3333", "acme.r01", "alive", True, 0),
            Pool("stratum+tcp://backup.example:443", "acme.r01", "alive", False, 1),
        ],
        accepted=10_000,
        rejected=20,
        hardware_errors=500,
    )
    for key, value in changes.items():
        setattr(snap, key, value)
    return snap


def rules(settings: Settings, **overrides: Any) -> RuleSet:
    return RuleSet(settings.model_copy(update=overrides))


def test_a_healthy_miner_raises_nothing(settings: Settings) -> None:
    found, judged = rules(settings).evaluate(healthy())
    assert found == {} and "overheat" in judged


@pytest.mark.parametrize(
    ("changes", "rule", "severity"),
    [
        ({"status": "offline", "error": "connection refused"}, "offline", "critical"),
        ({"temp_chip_max_c": 99.0}, "overheat", "critical"),
        ({"temp_board_max_c": 90.0}, "overheat", "critical"),
        ({"temp_inlet_c": 2.0}, "cold_inlet", "warning"),
        ({"hashrate_avg_ths": 70.0}, "hashrate_low", "warning"),
        ({"boards": [Board(0, 114, 114, 0), Board(1, 114, 0, 114)]}, "board_failure", "critical"),
        ({"boards": [Board(0, 114, 110, 4)]}, "board_failure", "warning"),
        ({"fans_rpm": [5600, 0, 5700, 5600]}, "fan_failure", "critical"),
        (
            {"pools": [Pool("stratum+tcp://p:1", "acme.r01", "dead", False, 0)]},
            "pools_dead",
            "critical",
        ),
        ({"rejected": 500}, "reject_rate", "warning"),
    ],
)
def test_each_rule(settings: Settings, changes: dict[str, Any], rule: str, severity: str) -> None:
    found, _ = rules(settings).evaluate(healthy(**changes))
    assert set(found) == {rule}
    assert found[rule].severity == severity and found[rule].message


def test_offline_judges_only_the_offline_rule(settings: Settings) -> None:
    found, judged = rules(settings).evaluate(MinerSnapshot.offline("connection refused"))
    assert judged == {"offline"} and "connection refused" in found["offline"].message


def test_thresholds_per_model_are_configurable(settings: Settings) -> None:
    ruleset = rules(
        settings,
        fleet_alert_thresholds={
            "default": {"chip_max_c": 80},
            "Antminer S19 Pro": {"chip_max_c": 100},
        },
    )
    assert "overheat" not in ruleset.evaluate(healthy(temp_chip_max_c=90.0))[0]
    assert "overheat" in ruleset.evaluate(healthy(model="Other", temp_chip_max_c=90.0))[0]


def test_wrong_pool_and_worker_and_hardware_error_rate(settings: Settings) -> None:
    ruleset = rules(
        settings,
        fleet_expected_pool_url="stratum+tcp://pool.example:3333",
        fleet_expected_worker="acme",
    )
    assert ruleset.evaluate(healthy())[0] == {}
    moved = healthy(pools=[Pool("stratum+tcp://evil.example:3333", "thief.w1", "alive", True, 0)])
    assert set(ruleset.evaluate(moved)[0]) == {"wrong_pool", "wrong_worker"}
    found, _ = ruleset.evaluate(healthy(hardware_errors=2000), previous=(0.0, 500), now=30.0)
    assert found["hw_error_rate"].value == 3000.0  # 1500 errors in half a minute
    assert "hw_error_rate" not in ruleset.evaluate(healthy(hardware_errors=10), (0.0, 500), 30.0)[0]


def test_flapping_is_suppressed() -> None:
    book = AlertBook(raise_after=2, clear_after=3)
    hot = {"overheat": Condition("overheat", "critical", "hot", 99.0, 95.0)}
    judged = frozenset({"overheat"})
    out = SweepAlerts()
    for holds in (True, False, True, False, True, False):  # hovering at the threshold
        book.observe("m", hot if holds else {}, judged, NOW, out)
    assert out.raised == [] and book.total_open() == 0
    for holds in (True, True, False, False, True, False, False, False):
        book.observe("m", hot if holds else {}, judged, NOW, out)
    assert len(out.raised) == 1 and len(out.cleared) == 1
    assert out.cleared[0].state == "cleared" and book.open_count("m") == 0


async def test_overheat_raises_then_clears_on_the_alerts_channel(
    settings: Settings, db: Database
) -> None:
    bus = EventBus()
    subscription = bus.subscribe(["alerts"], maxsize=1000)
    clock = ManualClock()
    async with FleetSimulator(2, use_ports=True, families=["antminer"], seed=5) as sim:
        poller = make_poller(settings, db, bus, clock, specs_for(sim))
        await sim.miners[1].set_fault(Fault.OVERHEAT, delta_c=40)
        await poller.sweep()
        assert drain(subscription) == []  # one hot sweep is not yet an alert
        clock.advance(1)
        await poller.sweep()
        raised = drain(subscription)
        assert [(e.type, e.data["miner_id"], e.data["rule"]) for e in raised] == [
            ("alert.raised", "m1", "overheat")
        ]
        alert = raised[0].data
        assert alert["id"] > 0 and alert["state"] == "raised" and alert["value"] > 95
        assert poller.miner_data(poller.states["m1"])["open_alerts"] == 1
        await sim.miners[1].clear_fault(Fault.OVERHEAT)
        for _ in range(3):
            clock.advance(1)
            await poller.sweep()
        cleared = drain(subscription)
        assert [(e.type, e.data["id"]) for e in cleared] == [("alert.cleared", alert["id"])]
        assert cleared[0].data["cleared_at"] is not None
    rows, total = await poller.store.list_alerts(state="cleared", miner_id="m1", limit=10, offset=0)
    assert total == 1 and rows[0].id == alert["id"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def test_alert_email_goes_through_a_real_smtp_server(
    settings: Settings, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    configured = settings.model_copy(
        update={
            "fleet_smtp_host": "127.0.0.1",
            "fleet_smtp_port": port,
            "fleet_smtp_tls": "none",
            "fleet_alert_email_to": "ops@example.com, oncall@example.com",
            "fleet_alert_email_from": "fleet@example.com",
            "fleet_alert_email_min_severity": "critical",
        }
    )
    health = HealthRegistry(EventBus())
    mailer = AlertMailer(configured, health)
    hot = Alert(7, "m1", "overheat", "critical", "raised", "chip 99 °C above 95 °C", 99, 95, NOW)
    minor = Alert(8, "m2", "cold_inlet", "warning", "raised", "inlet 2 °C", 2, 5, NOW)
    mailer.notify([hot, minor], [])
    await mailer.aclose(wait_s=5)
    assert len(inbox.messages) == 1
    sender, recipients, body = inbox.messages[0]
    assert sender == "fleet@example.com"
    assert recipients == ["ops@example.com", "oncall@example.com"]
    text = body.decode()
    assert "chip 99" in text and "m1" in text and "cold_inlet" not in text  # below min severity
    assert health.get("smtp").status == "ok"  # type: ignore[union-attr]


async def test_undeliverable_email_is_a_health_fact(settings: Settings) -> None:
    configured = settings.model_copy(
        update={
            "fleet_smtp_host": "127.0.0.1",
            "fleet_smtp_port": free_port(),  # nothing listens there
            "fleet_smtp_tls": "none",
            "fleet_smtp_timeout_s": 1.0,
            "fleet_alert_email_to": "ops@example.com",
            "fleet_alert_email_from": "fleet@example.com",
        }
    )
    health = HealthRegistry(EventBus())
    mailer = AlertMailer(configured, health)
    mailer.notify([Alert(1, "m", "offline", "critical", "raised", "down", None, None, NOW)], [])
    await asyncio.wait_for(mailer.aclose(wait_s=5), 6)
    item = health.get("smtp")
    assert item is not None and item.status == "down" and item.last_error


async def test_a_silence_is_audited_published_and_runs_out(
    settings: Settings, db: Database
) -> None:
    from sqlalchemy import select

    from backend.core.audit import AuditEntry
    from backend.fleet.acks import SILENCED, alert_view, silence, silence_fields, silences_for
    from backend.fleet.models import FleetAlertRow

    async with db.session() as session:
        row = FleetAlertRow(
            miner_id="m7",
            rule="pools_dead",
            severity="critical",
            state="raised",
            message="all 2 pools are dead or disabled",
            value=None,
            threshold=None,
            raised_at=NOW,
        )
        session.add(row)
    bus = EventBus()
    events = bus.subscribe(["alerts"], maxsize=10)
    answer = await silence(
        db, bus, row.id, minutes=60, reason="pool incident", actor="key:a(ops)", now=NOW
    )
    assert answer is not None and answer.state == "raised"  # still open, only silenced
    [event] = drain(events)
    assert event.type == SILENCED and event.data["state"] == "raised"
    assert event.data["silence_reason"] == "pool incident"
    assert event.data["silenced_by"] == "key:a(ops)"
    assert event.data["silenced_until"] == NOW.timestamp() + 3600
    stored = (await silences_for(db, [row.id]))[row.id]
    assert silence_fields(stored, NOW)["silence_reason"] == "pool incident"
    view = alert_view(answer, {"site": "S1"}, stored, NOW)
    assert view.silence_reason == "pool incident" and view.site == "S1"
    later = datetime.fromtimestamp(NOW.timestamp() + 3601, UTC)
    assert silence_fields(stored, later)["silenced_until"] is None  # ran out: counts again
    assert alert_view(answer, {}, stored, later).silenced_until is None
    async with db.session() as session:
        audit = list(await session.scalars(select(AuditEntry).where(AuditEntry.target == "m7")))
    assert [a.action for a in audit] == ["fleet.alert.silence"]
    assert await silence(db, bus, 999_999, minutes=5, reason="x", actor="a", now=NOW) is None
    await silence(db, bus, row.id, minutes=0, reason="over", actor="key:a(ops)", now=NOW)
    [lifted] = drain(events)  # lifting a silence is an event every client can read too
    payload = parse_payload(lifted.type, lifted.data)
    assert isinstance(payload, AlertSilenced) and payload.silenced_until is None
