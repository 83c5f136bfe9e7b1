"""Pieces of the Playground: the request tree, key masking and response rendering."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.json import JSON
from rich.text import Text
from textual.widgets import Tree

from backend.core.untrusted import loads
from hashinsight_tui.bruno import BrunoRequest, Collection

METHOD_STYLES = {
    "GET": "green",
    "POST": "yellow",
    "PATCH": "magenta",
    "PUT": "magenta",
    "DELETE": "red",
    "WS": "cyan",
}


def mask_key(key: str) -> str:
    """`hsk_<id>_…`: enough to tell keys apart, never the secret part."""
    parts = key.split("_")
    if len(parts) == 3 and parts[0] == "hsk":
        return f"hsk_{parts[1]}_…"
    return key[:4] + "…" if len(key) > 4 else "…"


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, mask_key(secret))
    return text


class RequestTree(Tree[BrunoRequest]):
    """Folders (categories) of the collection, each with its requests."""

    DEFAULT_CSS = """
    RequestTree { width: 30; min-width: 22; border-right: vkey $panel; }
    """

    def load(self, collection: Collection) -> None:
        self.clear()
        self.root.expand()
        for folder, requests in collection.by_folder().items():
            branch = self.root.add(folder, expand=False)
            for request in requests:
                label = Text.assemble(
                    (f"{request.method:<6}", METHOD_STYLES.get(request.method, "")),
                    " ",
                    request.name,
                )
                branch.add_leaf(label, data=request)


def render_body(body: bytes, content_type: str) -> RenderableType:
    text = body.decode("utf-8", errors="replace")
    if "json" in content_type or text[:1] in "[{":
        try:
            return JSON(json.dumps(loads(body, what="body")), indent=2)
        except ValueError:
            pass
    if not text:
        return Text("(empty body)", style="dim")
    return Text(text[:20_000])


def render_exchange(
    status: int, reason: str, elapsed_ms: float, headers: list[tuple[str, str]], body: Any
) -> RenderableType:
    style = "green" if status < 300 else "yellow" if status < 500 else "bold red"
    title = Text.assemble((f"{status} {reason}", style), f"  ·  {elapsed_ms:.1f} ms")
    head = Text("\n".join(f"{k}: {v}" for k, v in headers), style="dim")
    return Group(title, head, Text(""), body)


def ws_frames(request: BrunoRequest) -> str:
    """The request's messages as an editable JSON array (one frame per element)."""
    frames: list[Any] = []
    for message in request.ws_messages:
        try:
            frames.append(loads(message.content, what="message"))
        except ValueError:
            frames.append(message.content)
    return json.dumps(frames, indent=2)
