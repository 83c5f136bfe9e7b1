"""Streamed alert changes on the Alerts screen, on the recorded world: an acknowledgement pushed
by another console keeps the alert's place (events carry no site, rack or silence) and a streamed
alert that does not fit the contract changes nothing on the board, the table or the status bar."""

from __future__ import annotations

from typing import Any

from hashinsight_contract.fleet import AlertOut
from hashinsight_tui.app import ConsoleOptions, HashInsightApp
from hashinsight_tui.client import StreamEvent
from hashinsight_tui.messages import StreamBatch
from hashinsight_tui.screens.alerts import AlertsScreen
from hashinsight_tui.widgets.line_table import LineTable
from hashinsight_tui.widgets.status_bar import StatusBar
from tests.console.snapshot_world import URL, replay_client
from tests.helpers import wait_for

SIZE = (120, 36)
OFFLINE_ID = 7  # raised on 127.0.1.90:4028 at Site A/R05/10 in the recording
POOLS_ID = 5  # raised on 127.0.1.35:4028 at Site B/R02/15


def console(answers: dict[str, dict[str, Any]]) -> HashInsightApp:
    options = ConsoleOptions(
        url=URL, api_key="hsk_snapshot", refresh_s=3600.0, start_screen="alerts"
    )
    return HashInsightApp(options, client=replay_client(answers))


def row(app: HashInsightApp, alert_id: int) -> list[str]:
    return rows(app)[str(alert_id)]


def rows(app: HashInsightApp) -> dict[str, list[str]]:
    table = app.screen.query_one("#alerts-table", LineTable)
    return {key: [str(cell) for cell in cells] for key, cells in table.rows}


def status(app: HashInsightApp) -> str:
    return str(app.screen.query_one(StatusBar).render())


def event(kind: str, data: Any) -> StreamEvent:
    return StreamEvent("alerts", kind, data, 0.0)


def recorded(answers: dict[str, dict[str, Any]], alert_id: int) -> dict[str, Any]:
    items = answers["GET /api/v1/alerts?limit=1000&offset=0&state=raised"]["body"]["items"]
    return next(dict(item) for item in items if item["id"] == alert_id)


async def test_a_pushed_acknowledgement_keeps_the_place_and_a_malformed_alert_changes_nothing(
    answers: dict[str, dict[str, Any]],
) -> None:
    app = console(answers)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: isinstance(app.screen, AlertsScreen), pilot)
        await wait_for(lambda: str(OFFLINE_ID) in rows(app), pilot)
        before = rows(app)
        assert before[str(OFFLINE_ID)][2] == "Site A/R05/10"
        assert before[str(OFFLINE_ID)][6] == "new"
        waiting = sum(1 for r in before.values() if r[6] == "new")
        assert f"⚠ {waiting} alert" in status(app)
        version = app.alerts.version

        pools = recorded(answers, POOLS_ID)
        app.post_message(
            StreamBatch(
                [
                    # Cleared, but with a severity the contract does not know: not applied.
                    event("alert.cleared", {**pools, "state": "cleared", "severity": "fatal"}),
                    event("alert.cleared", {**pools, "id": None, "state": "cleared"}),
                    event("alert.raised", {"id": 99, "state": "raised"}),
                    event("alert.raised", {"id": "seven", "rule": "offline"}),
                    event("alert.acknowledged", {**pools, "state": "exploded"}),
                ]
            )
        )
        # What another console's acknowledgement pushes: the alert without site, rack, silence.
        ack = AlertOut.model_validate(recorded(answers, OFFLINE_ID)).model_copy(
            update={"acknowledged_by": "night shift", "ack_note": "power cycled the PDU"}
        )
        # A field sent as None keeps what we knew too.
        pushed = {**ack.model_dump(mode="json"), "rack": None}
        app.post_message(StreamBatch([event("alert.acknowledged", pushed)]))
        await wait_for(lambda: row(app, OFFLINE_ID)[6] == "acknowledged", pilot, 5)

        after = rows(app)
        assert after[str(OFFLINE_ID)][2] == "Site A/R05/10"
        assert after[str(OFFLINE_ID)][1] == "127.0.1.90:4028"
        assert app.alerts.open[OFFLINE_ID].site == "Site A"
        assert app.alerts.open[OFFLINE_ID].ack_note == "power cycled the PDU"
        # Nothing else moved: the malformed alerts neither cleared nor added nor changed a row.
        assert {k: v for k, v in after.items() if k != str(OFFLINE_ID)} == {
            k: v for k, v in before.items() if k != str(OFFLINE_ID)
        }
        assert after[str(POOLS_ID)][6] == "new"
        assert app.alerts.version == version + 1
        assert 99 not in app.alerts.open and not app.alerts.cleared
        await wait_for(lambda: f"⚠ {waiting - 1} alert" in status(app), pilot, 5)


def test_an_answer_of_the_api_replaces_what_the_board_knew() -> None:
    """A silence lifted elsewhere comes back in this console's next answer with no silence: the
    board must show the alert unsilenced, not keep the old silence as it does for a partial
    streamed event."""
    from hashinsight_contract.fleet import AlertView
    from hashinsight_tui.screens.alerts import AlertBoard, attention

    fields = {
        "id": 3, "miner_id": "10.0.0.3:4028", "rule": "overheat", "severity": "critical",
        "state": "raised", "message": "chip 96 C", "value": 96.0, "threshold": 90.0,
        "raised_at": 1_000.0, "acknowledged_at": None, "acknowledged_by": None,
        "cleared_at": None, "site": "Site A", "rack": "R01", "position": "4",
    }  # fmt: skip
    board = AlertBoard()
    board.load([AlertView(**fields, silenced_until=9e9, silenced_by="op", silence_reason="fan")])
    assert not attention(board.open[3])
    assert board.apply(AlertView(**fields))
    assert board.open[3].silenced_until is None and attention(board.open[3])
    assert board.open[3].site == "Site A"
    assert board.apply({"id": 3, "state": "acknowledged", "site": None})  # streamed: partial
    assert board.open[3].state == "acknowledged" and board.open[3].site == "Site A"
