"""The approval queue and the wallet login log work on the contract's models: the REST answers
as the SDK returned them, streamed updates checked against the same model where they are
merged, and a streamed update that does not fit skipped without hiding what the REST list said."""

from __future__ import annotations

from typing import Any

from hashinsight_contract.fleet import CommandOut
from hashinsight_contract.wallet import PRIVATE_LOGIN_FIELDS
from hashinsight_tui.client import StreamEvent, WalletLogin
from hashinsight_tui.screens.approvals import merge_commands, pending_commands
from hashinsight_tui.screens.notary import SNAP_LOGINS, logins
from hashinsight_tui.store import Store


def command(
    command_id: str, state: str = "pending_approval", updated_at: float = 10.0
) -> dict[str, Any]:
    return {
        "command_id": command_id,
        "state": state,
        "result": None,
        "miner_id": f"10.0.0.{command_id[-1]}:4028",
        "command": "switchpool",
        "params": {"pool": 1},
        "requested_by": "key:k1(night shift)",
        "created_at": 5.0,
        "updated_at": updated_at,
        "decided_by": None,
        "reason": None,
    }


def queue(rest: list[dict[str, Any]], streamed: list[dict[str, Any]]) -> dict[str, str]:
    models = [CommandOut.model_validate(row) for row in rest]
    return {p.ref: p.what for p in pending_commands(merge_commands(models, streamed))}


def test_the_queue_reads_the_rest_models_and_a_streamed_decision_takes_one_out() -> None:
    rest = [command("c1"), command("c2")]
    assert queue(rest, []) == {"c1": "switchpool pool=1", "c2": "switchpool pool=1"}
    decided = command("c1", "succeeded", updated_at=20.0)
    assert queue(rest, [decided]) == {"c2": "switchpool pool=1"}
    stale = command("c2", "refused", updated_at=1.0)  # true before the REST list was read
    assert set(queue(rest, [stale])) == {"c1", "c2"}
    asked_since = command("c3", updated_at=30.0)
    pending = pending_commands(merge_commands([], [asked_since]))
    assert [(p.ref, p.target, p.requested_by, p.since) for p in pending] == [
        ("c3", "10.0.0.3:4028", "key:k1(night shift)", 5.0)
    ]


def test_a_streamed_command_that_does_not_fit_is_skipped() -> None:
    rest = [command("c1")]
    unfit = [
        {**command("c1", updated_at=20.0), "state": "exploded"},
        {**command("c1", "succeeded", updated_at=21.0), "updated_at": "later"},
        {"state": "succeeded"},
        {"command_id": "c1", "state": "succeeded"},
    ]
    assert queue(rest, unfit) == {"c1": "switchpool pool=1"}


def login(login_id: int, outcome: str = "ok", ip: str | None = "203.0.113.7") -> dict[str, Any]:
    return {
        "id": login_id,
        "at": "2026-05-01T12:00:00+00:00",
        "address": "0xabc",
        "ip": ip,
        "outcome": outcome,
        "reason": None,
        "user_agent": "Mozilla/5.0" if ip else None,
        "geo_status": "ok",
        "geo_detail": None,
        "country": "Norway",
        "country_code": "NO",
        "region": None,
        "city": "Oslo",
        "lat": 59.9 if ip else None,
        "lon": 10.7 if ip else None,
        "isp": "Fiber AS" if ip else None,
    }


def streamed_login(data: dict[str, Any]) -> StreamEvent:
    public = {k: v for k, v in data.items() if k not in PRIVATE_LOGIN_FIELDS}
    return StreamEvent("wallet", "wallet.login", public, 0.0)


def test_a_streamed_login_keeps_the_rest_copy_ip_and_a_new_one_has_none() -> None:
    store = Store()
    store.set_snapshots({SNAP_LOGINS: [WalletLogin.model_validate(login(1))]})
    store.apply([streamed_login(login(1, "rejected")), streamed_login(login(2))])
    rows = {row.id: row for row in logins(store)}
    assert all(isinstance(row, WalletLogin) for row in rows.values())
    assert rows[1].outcome == "rejected" and rows[1].ip == "203.0.113.7"
    assert rows[1].isp == "Fiber AS" and rows[1].user_agent == "Mozilla/5.0"
    assert rows[2].ip is None and rows[2].lat is None and rows[2].city == "Oslo"


def test_a_streamed_login_that_does_not_fit_leaves_the_rest_copy() -> None:
    store = Store()
    store.set_snapshots({SNAP_LOGINS: [WalletLogin.model_validate(login(1))]})
    store.apply([streamed_login(login(1, "maybe"))])
    assert [(row.id, row.outcome, row.ip) for row in logins(store)] == [(1, "ok", "203.0.113.7")]
