"""Which bus events become which webhook events.

alerts / miner.alert              -> miner.alert (every alert); miner.offline (rule "offline")
issues / issue.update, approval.* -> issue.pending (awaiting approval), issue.confirmed
notarizations / notary.update     -> notarization.anchored (once, when the anchor step is done)
prices / price.tick               -> price.move (|change| >= webhooks_price_move_pct since the
                                     last price.move, or since the first price seen)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from backend.core.bus import Event

EVENT_TYPES: dict[str, str] = {
    "miner.offline": "A miner stopped answering (fleet alert rule 'offline').",
    "miner.alert": "A fleet alert fired or cleared (any rule).",
    "issue.pending": "An ndau issue is waiting for approval by on-call staff.",
    "issue.confirmed": "An ndau issue was confirmed on chain.",
    "notarization.anchored": "A notarization's anchor transaction was mined.",
    "price.move": "The BTC price moved by at least the configured percentage.",
}
TEST_EVENT = "webhook.test"
CHANNELS = frozenset({"alerts", "issues", "notarizations", "prices"})
SEEN_MAX = 10_000
OFFLINE_RULES = frozenset({"offline", "miner.offline", "miner_offline"})
RESOLVED_STATES = frozenset({"resolved", "cleared", "closed", "ok"})
RAISED_EVENTS = frozenset({"alert.raised", "miner.alert"})


class _Seen:
    """A bounded set: what was already announced (so a replay does not re-send it)."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, None] = OrderedDict()

    def add(self, key: str) -> bool:
        if key in self._items:
            return False
        self._items[key] = None
        while len(self._items) > SEEN_MAX:
            self._items.popitem(last=False)
        return True


class EventMapper:
    def __init__(self, price_move_pct: float) -> None:
        self.price_move_pct = price_move_pct
        self._price_ref: float | None = None
        self._seen = _Seen()

    def map(self, event: Event) -> list[tuple[str, dict[str, Any]]]:
        data = event.data
        if event.channel == "alerts" or event.type == "miner.alert":
            return self._alert(event.type, data)
        if event.channel == "issues":
            return self._issue(data)
        if event.channel == "notarizations":
            return self._notarization(data)
        if event.channel == "prices" and event.type == "price.tick":
            return self._price(data)
        return []

    def _alert(self, kind: str, data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = [("miner.alert", {**data, "event": kind})]
        rule = str(data.get("rule") or data.get("kind") or "").lower()
        state = str(data.get("state") or data.get("status") or "firing").lower()
        raised = kind in RAISED_EVENTS
        if raised and rule in OFFLINE_RULES and state not in RESOLVED_STATES:
            out.append(("miner.offline", data))
        return out

    def _issue(self, data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        state = data.get("state")
        issue = data.get("id")
        if state == "awaiting_approval" and self._seen.add(f"issue.pending:{issue}"):
            return [("issue.pending", data)]
        if state == "confirmed" and self._seen.add(f"issue.confirmed:{issue}"):
            return [("issue.confirmed", data)]
        return []

    def _notarization(self, data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        steps = data.get("steps")
        anchored = False
        if isinstance(steps, list):
            anchored = any(
                isinstance(s, dict) and s.get("name") == "anchor" and s.get("state") == "done"
                for s in steps
            )
        elif isinstance(steps, dict):
            anchored = (steps.get("anchor") or {}).get("state") == "done"
        if anchored and data.get("tx_hash") and self._seen.add(f"anchored:{data.get('id')}"):
            return [("notarization.anchored", data)]
        return []

    def _price(self, data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        price = data.get("price_usd")
        if not isinstance(price, int | float) or isinstance(price, bool) or price <= 0:
            return []
        if self._price_ref is None:
            self._price_ref = float(price)
            return []
        change = (price - self._price_ref) / self._price_ref * 100
        if abs(change) < self.price_move_pct:
            return []
        payload = {
            "price_usd": price,
            "previous_usd": self._price_ref,
            "change_pct": round(change, 4),
            "direction": "up" if change > 0 else "down",
            "threshold_pct": self.price_move_pct,
        }
        self._price_ref = float(price)
        return [("price.move", payload)]
