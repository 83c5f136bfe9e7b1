"""Typed messages from background workers to the UI: workers never touch widgets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from textual.message import Message

from hashinsight_contract.fleet import AlertView
from hashinsight_tui.client import HealthReport, KeyInfo, StreamEvent

ConnectionState = Literal["connecting", "connected", "reconnecting", "unauthorized"]


@dataclass
class ConnectionChanged(Message):
    state: ConnectionState
    url: str
    detail: str = ""
    retry_in_s: float | None = None


@dataclass
class KeyLoaded(Message):
    key: KeyInfo


@dataclass
class HealthLoaded(Message):
    report: HealthReport


@dataclass
class SnapshotsLoaded(Message):
    """REST snapshots a screen fetched (name -> value)."""

    values: dict[str, Any]


@dataclass
class SnapshotFailed(Message):
    screen: str
    error: str


@dataclass
class StreamBatch(Message):
    """Events gathered over a short window, applied by the UI in one go."""

    events: list[StreamEvent]


@dataclass
class AlertsLoaded(Message):
    """The open alerts from the REST list (None when the backend has none to give: `error`)."""

    items: list[AlertView] | None
    error: str = ""


@dataclass
class KeyNeeded(Message):
    """The backend refused the console's key and there is no local token to fall back on."""

    reason: str
