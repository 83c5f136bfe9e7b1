"""The CGMiner RPC API's two reply encodings: compact JSON (NUL-terminated) and the
plain-text ``KEY=value,...|`` form answered to a plain-text request."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# top-level keys that belong to the reply's head, not a section
HEAD_KEYS = ("STATUS", "When", "Code", "Msg", "Description")
# sections whose text rows are prefixed with their name
NAMED_SECTIONS = frozenset({"SUMMARY", "VERSION", "CONFIG", "TEMPCTRL", "TUNERSTATUS"})


def text_reply(reply: Mapping[str, Any]) -> str:
    """cgminer's plain-text rendering: the STATUS row, then one row per section entry."""
    status = reply.get("STATUS")
    if status == "RESTART":
        return "RESTART"
    head = status[0] if isinstance(status, list) else {k: reply[k] for k in HEAD_KEYS if k in reply}
    sections = [text_row(head)]
    for key, rows in reply.items():
        if key in HEAD_KEYS or key == "id":
            continue
        for row in rows if isinstance(rows, list) else [rows]:
            sections.append((f"{key}," if key in NAMED_SECTIONS else "") + text_row(row))
    return "|".join(sections) + "|"


def text_row(row: Mapping[str, Any]) -> str:
    def escape(value: Any) -> str:
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        for ch in ("\\", "|", ",", "="):
            text = text.replace(ch, "\\" + ch)
        return text

    return ",".join(f"{escape(k)}={escape(v)}" for k, v in row.items())


def quirky_json(value: Mapping[str, Any], *, stats_quirk: bool) -> str:
    """Compact JSON; with ``stats_quirk`` the first two STATS objects are joined by ``}{``
    exactly like stock bmminer does.

    One C-encoder pass over the reply: each STATS list is swapped for a placeholder string
    and its quirky text put in its place (this runs for every reply of a 10,000-miner sweep).
    """
    holders = _stats_holders(value) if stats_quirk else []
    if not holders:
        return json.dumps(value, separators=(",", ":"))
    lists = [holder["STATS"] for holder in holders]
    for slot, holder in enumerate(holders):
        holder["STATS"] = f"\x00stats{slot}\x00"
    try:
        text = json.dumps(value, separators=(",", ":"))
    finally:
        for holder, stats in zip(holders, lists, strict=True):
            holder["STATS"] = stats
    for slot, stats in enumerate(lists):
        body = [json.dumps(x, separators=(",", ":")) for x in stats]
        quirky = "[" + body[0] + body[1] + "".join("," + x for x in body[2:]) + "]"
        text = text.replace(json.dumps(f"\x00stats{slot}\x00"), quirky, 1)
    return text


def _stats_holders(value: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The dicts (a reply, or a joined reply's parts) holding a STATS list of 2+ objects."""
    candidates = [value, *(p[0] for p in value.values() if isinstance(p, list) and p)]
    return [
        c
        for c in candidates
        if isinstance(c, dict) and isinstance(c.get("STATS"), list) and len(c["STATS"]) >= 2
    ]
