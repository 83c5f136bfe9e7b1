"""The Playground: every request of the Bruno collection, editable and sent with a chosen key.

HTTP requests show status, headers, timing and pretty JSON; WebSocket requests connect, send their
frames (auth first) and show every message that arrives until disconnected. The collection is read
from `collections/hashinsight` and `collections/hashinsight-websocket` (Bruno's own `.bru` format,
`http` and `ws` requests); keys are masked on screen and only put into a request when it is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any, ClassVar

import websockets
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, RichLog, Select, Static, TextArea, Tree

from hashinsight_tui.bruno import (
    BrunoError,
    BrunoRequest,
    Collection,
    build_url,
    interpolate,
    load_collections,
)
from hashinsight_tui.client import ConnectionLost
from hashinsight_tui.screens.base import BaseScreen
from hashinsight_tui.widgets.playground_view import (
    RequestTree,
    mask_key,
    render_body,
    render_exchange,
    scrub,
    ws_frames,
)

COLLECTION_DIR = Path(__file__).resolve().parents[2] / "collections" / "hashinsight"
# WebSocket requests: a collection of their own for the Bruno app (its CLI runs HTTP only)
WS_COLLECTION_DIR = COLLECTION_DIR.with_name("hashinsight-websocket")
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CONSOLE_KEY = "console"
OTHER_KEY = "other"


class PlaygroundScreen(BaseScreen):
    SCREEN_TITLE = "Playground"
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("ctrl+r", "send", "Send / connect", id="playground.send", priority=True),
        Binding("ctrl+d", "disconnect", "Disconnect", id="playground.disconnect", priority=True),
    ]
    DEFAULT_CSS = """
    PlaygroundScreen #pg-main { height: 1fr; }
    PlaygroundScreen #pg-right { width: 1fr; }
    PlaygroundScreen #pg-title { height: auto; padding: 0 1; }
    PlaygroundScreen #pg-keyrow { height: 3; }
    PlaygroundScreen #pg-key { width: 36; }
    PlaygroundScreen #pg-other-key { width: 1fr; }
    PlaygroundScreen #pg-body { height: 6; min-height: 3; }
    PlaygroundScreen #pg-response { height: 1fr; border-top: hkey $panel; }
    """

    def __init__(self, collection_dir: Path | None = None) -> None:
        super().__init__()
        self.collection_dir = collection_dir or COLLECTION_DIR
        self.collection_dirs = (
            (collection_dir,) if collection_dir else (COLLECTION_DIR, WS_COLLECTION_DIR)
        )
        self.collection: Collection | None = None
        self.problem: str | None = None
        self.current: BrunoRequest | None = None
        self.ws_connected = False

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="pg-main"):
            yield RequestTree("Collection", id="pg-tree")
            with Vertical(id="pg-right"):
                yield Static("pick a request on the left", id="pg-title")
                yield Input(placeholder="URL", id="pg-url")
                with Horizontal(id="pg-keyrow"):
                    yield Select(
                        [("console key", CONSOLE_KEY), ("other key…", OTHER_KEY)],
                        value=CONSOLE_KEY,
                        allow_blank=False,
                        id="pg-key",
                    )
                    yield Input(
                        placeholder="paste another key (hidden)", password=True, id="pg-other-key"
                    )
                yield TextArea("", language="json", id="pg-body")
                yield RichLog(id="pg-response", wrap=True, markup=False, highlight=False)

    def on_mount(self) -> None:
        try:
            self.collection = load_collections(self.collection_dirs)
        except (BrunoError, OSError) as exc:
            self.problem = f"no Bruno collection at {self.collection_dir}: {exc}"
            self.query_one("#pg-title", Static).update(Text(f"— {self.problem}", style="yellow"))
            return
        self.query_one(RequestTree).load(self.collection)
        self._show_key()

    def _show_key(self) -> None:
        key = self.hi_app.options.api_key
        select = self.query_one("#pg-key", Select)
        select.set_options(
            [(f"console key {mask_key(key)}", CONSOLE_KEY), ("other key…", OTHER_KEY)]
        )

    # --- choosing and editing ---------------------------------------------------------------

    @on(Tree.NodeSelected, "#pg-tree")
    def _picked(self, event: Tree.NodeSelected[BrunoRequest]) -> None:
        if event.node.data is not None:
            self.select_request(event.node.data)

    def variables(self, key: str | None = None) -> dict[str, str]:
        url = self.hi_app.options.url.rstrip("/")
        ws = "wss://" + url[8:] if url.startswith("https://") else "ws://" + url[7:]
        env = {}
        if self.collection is not None:
            local = self.collection.environments.get("Local")
            env = dict(local.variables) if local else {}
        env.update(baseUrl=url, wsUrl=ws)
        if key is not None:
            env["apiKey"] = key
        return env

    def select_request(self, request: BrunoRequest) -> None:
        self.current = request
        self.query_one("#pg-title", Static).update(
            Text.assemble(
                (f"{request.method} ", "bold"), request.name, (f"  [{request.folder}]", "dim")
            )
        )
        self.query_one("#pg-url", Input).value = build_url(request, self.variables())
        body = ws_frames(request) if request.is_ws else request.body
        self.query_one("#pg-body", TextArea).text = body

    def chosen_key(self) -> str:
        if self.query_one("#pg-key", Select).value == OTHER_KEY:
            return self.query_one("#pg-other-key", Input).value.strip()
        return self.hi_app.options.api_key

    def _log(self, renderable: Any) -> None:
        self.query_one("#pg-response", RichLog).write(renderable)

    # --- sending ----------------------------------------------------------------------------

    def action_send(self) -> None:
        if self.current is None:
            self.notify("Pick a request first", severity="warning")
            return
        if self.current.is_ws:
            self.connect_ws()
        else:
            self.send_http()

    @work(exclusive=True, group="playground-http")
    async def send_http(self) -> None:
        request, client = self.current, self.hi_app.client
        if request is None or client is None:
            return
        key = self.chosen_key()
        variables = self.variables(key)
        url = interpolate(self.query_one("#pg-url", Input).value.strip(), variables)
        headers = {p.name: interpolate(p.value, variables) for p in request.headers if p.enabled}
        content = None
        text = self.query_one("#pg-body", TextArea).text.strip()
        if request.method in BODY_METHODS and text:
            content = interpolate(text, variables).encode()
            headers.setdefault("Content-Type", "application/json")
        send_key = key if request.auth_mode in ("bearer", "inherit") and key else None
        log = self.query_one("#pg-response", RichLog)
        log.clear()
        log.auto_scroll = False  # read an answer from its status line down
        try:
            answer = await client.raw(
                request.method, url, headers=headers, content=content, api_key=send_key
            )
        except ConnectionLost as exc:
            self._log(Text(f"no answer: {exc}", style="bold red"))
            return
        content_type = dict(answer.headers).get("content-type", "")
        shown_headers = [(k, scrub(v, [key])) for k, v in answer.headers]
        self._log(
            render_exchange(
                answer.status,
                answer.reason,
                answer.elapsed_ms,
                shown_headers,
                render_body(
                    scrub(answer.body.decode("utf-8", "replace"), [key]).encode(), content_type
                ),
            )
        )

    @work(exclusive=True, group="playground-ws")
    async def connect_ws(self) -> None:
        if self.current is None:
            return
        key = self.chosen_key()
        variables = self.variables(key)
        url = interpolate(self.query_one("#pg-url", Input).value.strip(), variables)
        log = self.query_one("#pg-response", RichLog)
        log.clear()
        log.auto_scroll = True  # follow the stream
        try:
            frames = json.loads(self.query_one("#pg-body", TextArea).text or "[]")
        except ValueError as exc:
            self._log(Text(f"frames must be a JSON array: {exc}", style="bold red"))
            return
        if not isinstance(frames, list):
            frames = [frames]
        try:
            async with websockets.connect(url, open_timeout=10, max_size=2**22) as ws:
                self.ws_connected = True
                self._log(Text(f"connected to {url}", style="green"))
                for frame in frames:
                    raw = frame if isinstance(frame, str) else json.dumps(frame)
                    await ws.send(interpolate(raw, variables))
                    self._log(Text(f"→ {scrub(raw, [key])}", style="cyan"))
                async for message in ws:
                    text = (
                        message if isinstance(message, str) else message.decode("utf-8", "replace")
                    )
                    self._log(Text(f"← {scrub(text, [key])}"))
                code = ws.close_code
                self._log(Text(f"closed by the server ({code})", style="yellow"))
        except asyncio.CancelledError:
            self._log(Text("disconnected", style="yellow"))
            raise
        except websockets.ConnectionClosed as exc:
            reason = exc.rcvd.reason if exc.rcvd else ""
            code = exc.rcvd.code if exc.rcvd else None
            self._log(Text(f"closed: {code} {reason}", style="yellow"))
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            self._log(Text(f"cannot connect: {type(exc).__name__}: {exc}", style="bold red"))
        finally:
            self.ws_connected = False

    def action_disconnect(self) -> None:
        with contextlib.suppress(Exception):
            self.workers.cancel_group(self, "playground-ws")
