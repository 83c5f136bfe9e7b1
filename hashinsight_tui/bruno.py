"""Bruno collections: parse `.bru` request files (HTTP and WebSocket) and environments.

The console's Playground lists the collection's requests by folder and sends them (the WebSocket
requests live in a companion collection, `collections/hashinsight-websocket`, since the Bruno CLI
runs only HTTP; `load_collections` joins the two); the same module
writes the requests a collection is missing from the backend's OpenAPI spec
(`python -m hashinsight_tui.bruno generate <collection dir> <openapi.json>`), never touching files
that already exist.

The `.bru` format: top-level blocks `name { … }` (or `name [ … ]` for lists). Dictionary blocks hold
`key: value` lines (`~key` is disabled, `'''` starts a multi-line value indented four spaces,
`@annotation(...)` lines describe the next pair); text blocks (bodies, scripts, tests, docs) hold
text indented two spaces. WebSocket requests have `meta.type: ws`, a `ws { url … }` block and one
`body:ws { name, type, content }` block per message.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.core.untrusted import loads

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "options", "head", "connect", "trace")
DICT_BODIES = {
    "body:form-urlencoded",
    "body:multipart-form",
    "body:file",
    "body:ws",
    "body:grpc",
}
_BLOCK_RE = re.compile(r"^([A-Za-z][\w:.\-]*)\s*([\{\[])\s*$")
_VAR_RE = re.compile(r"\{\{\s*([\w.\-]+)\s*\}\}")


class BrunoError(ValueError):
    """A `.bru` file cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Pair:
    name: str
    value: str
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Block:
    tag: str
    pairs: tuple[Pair, ...] = ()
    text: str | None = None
    items: tuple[str, ...] = ()

    def get(self, name: str, default: str = "") -> str:
        for pair in self.pairs:
            if pair.name == name:
                return pair.value
        return default


@dataclass(frozen=True, slots=True)
class WsMessage:
    name: str
    type: str
    content: str


@dataclass(frozen=True)
class BrunoRequest:
    name: str
    kind: str  # http | ws | graphql
    method: str  # GET, POST… ("WS" for WebSocket requests)
    url: str
    seq: float
    folder: str
    path: Path | None
    headers: tuple[Pair, ...] = ()
    query: tuple[Pair, ...] = ()
    path_params: tuple[Pair, ...] = ()
    body_mode: str = "none"
    body: str = ""
    ws_messages: tuple[WsMessage, ...] = ()
    auth_mode: str = "none"
    auth_token: str = ""
    docs: str = ""
    tags: tuple[str, ...] = ()

    @property
    def is_ws(self) -> bool:
        return self.kind == "ws"

    @property
    def label(self) -> str:
        return f"{self.method:<6} {self.name}"


@dataclass(frozen=True)
class Environment:
    name: str
    variables: dict[str, str]
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Collection:
    name: str
    root: Path
    requests: tuple[BrunoRequest, ...]
    environments: dict[str, Environment] = field(default_factory=dict)
    auth_token: str = ""

    def folders(self) -> list[str]:
        return sorted({r.folder for r in self.requests})

    def by_folder(self) -> dict[str, list[BrunoRequest]]:
        grouped: dict[str, list[BrunoRequest]] = {}
        for request in sorted(self.requests, key=lambda r: (r.folder, r.seq, r.name)):
            grouped.setdefault(request.folder, []).append(request)
        return grouped


# --- parsing -------------------------------------------------------------------------------------


def parse_blocks(text: str, source: str = "<text>") -> list[Block]:
    """Every top-level block of a `.bru` file, in order."""
    lines = text.replace("\r\n", "\n").split("\n")
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
            continue
        match = _BLOCK_RE.match(line.strip())
        if match is None or line[:1].isspace():
            raise BrunoError(f"{source}:{index + 1}: expected a block such as 'meta {{'")
        tag, opener = match.groups()
        closer = "}" if opener == "{" else "]"
        end = index + 1
        while end < len(lines) and lines[end].rstrip() != closer:
            end += 1
        if end >= len(lines):
            raise BrunoError(f"{source}:{index + 1}: block '{tag}' is not closed")
        body = lines[index + 1 : end]
        if opener == "[":
            items = tuple(part.strip() for part in ",".join(body).split(",") if part.strip())
            blocks.append(Block(tag, items=items))
        elif _is_text_block(tag):
            blocks.append(Block(tag, text=_outdent(body, 2)))
        else:
            blocks.append(Block(tag, pairs=_pairs(body, source, index + 2)))
        index = end + 1
    return blocks


def _is_text_block(tag: str) -> bool:
    if tag in DICT_BODIES:
        return False
    return tag == "body" or tag.startswith(("body:", "script:")) or tag in ("tests", "docs")


def _outdent(lines: list[str], width: int) -> str:
    out = [line[width:] if line[:width].isspace() else line.lstrip() for line in lines]
    while out and not out[-1].strip():
        out.pop()
    while out and not out[0].strip():
        out.pop(0)
    return "\n".join(out)


def _pairs(lines: list[str], source: str, first_line: int) -> tuple[Pair, ...]:
    pairs: list[Pair] = []
    index = 0
    while index < len(lines):
        raw = lines[index]
        line = raw.strip()
        index += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):  # an annotation line, e.g. @description('''…''')
            if "'''" in line and line.count("'''") == 1:
                while index < len(lines) and "'''" not in lines[index]:
                    index += 1
                index += 1
            continue
        key, value = _split_pair(line, source, first_line + index - 1)
        enabled = not key.startswith("~")
        key = key.lstrip("~")
        if value == "'''":
            chunk: list[str] = []
            while index < len(lines) and lines[index].strip() != "'''":
                chunk.append(lines[index])
                index += 1
            index += 1
            value = "\n".join(line[4:] if line[:4].isspace() else line.lstrip() for line in chunk)
        elif value == "[":
            items: list[str] = []
            while index < len(lines) and lines[index].strip() != "]":
                items.extend(p.strip() for p in lines[index].split(",") if p.strip())
                index += 1
            index += 1
            value = "\n".join(items)
        pairs.append(Pair(key, value, enabled))
    return tuple(pairs)


def _split_pair(line: str, source: str, number: int) -> tuple[str, str]:
    if line.startswith('"'):
        end = line.find('"', 1)
        while end > 0 and line[end - 1] == "\\":
            end = line.find('"', end + 1)
        if end < 0 or ":" not in line[end:]:
            raise BrunoError(f"{source}:{number}: bad quoted key")
        key = line[1:end].replace('\\"', '"')
        value = line[end + 1 :].split(":", 1)[1]
        return key, value.strip()
    if ":" not in line:
        raise BrunoError(f"{source}:{number}: expected 'key: value'")
    key, value = line.split(":", 1)
    return key.strip(), value.strip()


def parse_request(text: str, *, folder: str = "", path: Path | None = None) -> BrunoRequest:
    source = str(path) if path else "<text>"
    blocks = parse_blocks(text, source)
    by_tag: dict[str, Block] = {}
    for block in blocks:
        by_tag.setdefault(block.tag, block)
    meta = by_tag.get("meta", Block("meta"))
    kind = meta.get("type", "http") or "http"
    method, request_block = "", None
    for name in HTTP_METHODS:
        if name in by_tag:
            method, request_block = name.upper(), by_tag[name]
            break
    if request_block is None and "http" in by_tag:
        request_block = by_tag["http"]
        method = request_block.get("method", "GET").upper()
    if kind == "ws" or "ws" in by_tag:
        kind, method, request_block = "ws", "WS", by_tag.get("ws")
    if request_block is None:
        raise BrunoError(f"{source}: no request block (get, post, …, ws)")
    params: list[Pair] = []
    path_params: list[Pair] = []
    for block in blocks:
        if block.tag in ("query", "params:query"):
            params.extend(block.pairs)
        elif block.tag == "params:path":
            path_params.extend(block.pairs)
    body_mode = request_block.get("body", "none") or "none"
    body = ""
    if body_mode not in ("none", "ws"):
        text_block = by_tag.get(f"body:{body_mode}") or by_tag.get("body")
        body = text_block.text or "" if text_block else ""
    messages = tuple(
        WsMessage(
            b.get("name", f"message {n + 1}"), b.get("type", "json") or "json", b.get("content")
        )
        for n, b in enumerate(b for b in blocks if b.tag == "body:ws")
    )
    auth_mode = request_block.get("auth", "none") or "none"
    bearer = by_tag.get("auth:bearer")
    tags = tuple(t for t in meta.get("tags").split("\n") if t) if meta.get("tags") else ()
    try:
        seq = float(meta.get("seq", "1") or 1)
    except ValueError:
        seq = 1.0
    return BrunoRequest(
        name=meta.get("name") or (path.stem if path else "request"),
        kind=kind,
        method=method,
        url=request_block.get("url"),
        seq=seq,
        folder=folder,
        path=path,
        headers=by_tag["headers"].pairs if "headers" in by_tag else (),
        query=tuple(params),
        path_params=tuple(path_params),
        body_mode="ws" if kind == "ws" else body_mode,
        body=body,
        ws_messages=messages,
        auth_mode=auth_mode,
        auth_token=bearer.get("token") if bearer else "",
        docs=(by_tag["docs"].text or "") if "docs" in by_tag else "",
        tags=tags,
    )


def parse_environment(text: str, name: str = "env") -> Environment:
    variables: dict[str, str] = {}
    secrets: list[str] = []
    for block in parse_blocks(text, name):
        if block.tag == "vars":
            variables.update({p.name: p.value for p in block.pairs if p.enabled})
        elif block.tag == "vars:secret":
            secrets.extend(block.items)
    return Environment(name, variables, tuple(secrets))


def load_collection(root: Path) -> Collection:
    """Every request of a collection folder (its `bruno.json` names it), grouped by folder."""
    root = Path(root)
    try:
        config = loads((root / "bruno.json").read_bytes(), what="bruno.json")
    except (OSError, ValueError) as exc:
        raise BrunoError(f"{root}: not a Bruno collection ({exc})") from None
    requests: list[BrunoRequest] = []
    environments: dict[str, Environment] = {}
    auth_token = ""
    for path in sorted(root.rglob("*.bru")):
        relative = path.relative_to(root)
        text = path.read_text(encoding="utf-8")
        if relative.parts[0] == "environments":
            environments[path.stem] = parse_environment(text, path.stem)
        elif path.name == "collection.bru":
            bearer = next(
                (b for b in parse_blocks(text, str(path)) if b.tag == "auth:bearer"), None
            )
            auth_token = bearer.get("token") if bearer else ""
        elif path.name == "folder.bru":
            continue
        else:
            folder = "/".join(relative.parts[:-1]) or "(root)"
            requests.append(parse_request(text, folder=folder, path=path))
    return Collection(
        str(config.get("name", root.name)), root, tuple(requests), environments, auth_token
    )


def load_collections(roots: Iterable[Path]) -> Collection:
    """Several collections as one: the HTTP collection and its WebSocket companion (kept apart
    because the Bruno CLI cannot run WebSocket requests). Requests are joined, environments
    merged by name; the name, root and auth come from the first."""
    loaded = [load_collection(root) for root in roots]
    if not loaded:
        raise BrunoError("no collection given")
    environments: dict[str, Environment] = {}
    for collection in loaded:
        for name, env in collection.environments.items():
            known = environments.get(name)
            if known is None:
                environments[name] = env
            else:
                secrets = known.secrets + tuple(s for s in env.secrets if s not in known.secrets)
                merged = {**env.variables, **known.variables}
                environments[name] = Environment(name, merged, secrets)
    first = loaded[0]
    requests = tuple(r for collection in loaded for r in collection.requests)
    return Collection(first.name, first.root, requests, environments, first.auth_token)


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Replace `{{name}}` with its value; unknown names are left as they are."""
    return _VAR_RE.sub(lambda m: variables.get(m.group(1), m.group(0)), text)


def build_url(request: BrunoRequest, variables: dict[str, str]) -> str:
    """The request URL with variables, path params and enabled query params applied."""
    url = interpolate(request.url, variables)
    for param in request.path_params:
        url = url.replace(f":{param.name}", interpolate(param.value, variables))
    enabled = [p for p in request.query if p.enabled]
    if enabled:
        from urllib.parse import urlencode

        base = url.split("?", 1)[0]
        query = urlencode([(p.name, interpolate(p.value, variables)) for p in enabled])
        url = f"{base}?{query}"
    return url


# --- writing (collection generation from the OpenAPI spec) ----------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60] or "request"


def _indent(text: str, width: int) -> str:
    pad = " " * width
    return "\n".join(pad + line if line else line for line in text.split("\n"))


def _example(schema: dict[str, Any], spec: dict[str, Any], depth: int = 0) -> Any:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec.get("components", {}).get("schemas", {}).get(name, {})
    if "default" in schema:
        return schema["default"]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return _example(options[0], spec, depth) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 3:
            return {}
        required = set(schema.get("required", []))
        return {
            name: _example(prop, spec, depth + 1)
            for name, prop in schema.get("properties", {}).items()
            if name in required or "default" in prop
        }
    if kind == "array":
        return [_example(schema.get("items", {}), spec, depth + 1)]
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    return schema.get("examples", ["example"])[0] if schema.get("examples") else "string"


def request_text(
    *,
    name: str,
    method: str,
    path: str,
    seq: int,
    query: Iterable[tuple[str, str, bool]] = (),
    path_params: Iterable[tuple[str, str]] = (),
    body: Any = None,
    docs: str = "",
    auth: bool = True,
    asserts: Iterable[tuple[str, str]] = (),
) -> str:
    """One HTTP request in Bruno's layout. Enabled query params go in the URL as well as in
    `params:query` (Bruno keeps the two in step; its CLI sends only the URL), and `asserts`
    become an `assert` block so `bru run` checks the answer."""
    url_path = re.sub(r"\{(\w+)\}", r":\1", path)
    query = list(query)
    on = "&".join(f"{k}={v}" for k, v, enabled in query if enabled)
    url_path += f"?{on}" if on else ""
    parts = [f"meta {{\n  name: {name}\n  type: http\n  seq: {seq}\n}}\n"]
    parts.append(
        f"{method.lower()} {{\n  url: {{{{baseUrl}}}}{url_path}\n"
        f"  body: {'json' if body is not None else 'none'}\n"
        f"  auth: {'bearer' if auth else 'none'}\n}}\n"
    )
    if query:
        lines = "\n".join(f"  {'' if on else '~'}{k}: {v}" for k, v, on in query)
        parts.append(f"params:query {{\n{lines}\n}}\n")
    path_params = list(path_params)
    if path_params:
        lines = "\n".join(f"  {k}: {v}" for k, v in path_params)
        parts.append(f"params:path {{\n{lines}\n}}\n")
    if auth:
        parts.append("auth:bearer {\n  token: {{apiKey}}\n}\n")
    if body is not None:
        parts.append(f"body:json {{\n{_indent(json.dumps(body, indent=2), 2)}\n}}\n")
    asserts = list(asserts)
    if asserts:
        lines = "\n".join(f"  {expr}: {check}" for expr, check in asserts)
        parts.append(f"assert {{\n{lines}\n}}\n")
    if docs:
        parts.append(f"docs {{\n{_indent(docs, 2)}\n}}\n")
    return "\n".join(parts)


def ws_request_text(*, name: str, seq: int, messages: list[tuple[str, Any]], docs: str) -> str:
    parts = [
        f"meta {{\n  name: {name}\n  type: ws\n  seq: {seq}\n}}\n",
        "ws {\n  url: {{wsUrl}}/ws\n  body: ws\n  auth: none\n}\n",
    ]
    for message_name, content in messages:
        rendered = _indent(json.dumps(content, indent=2), 4)
        parts.append(
            f"body:ws {{\n  name: {message_name}\n  type: json\n"
            f"  content: '''\n{rendered}\n  '''\n}}\n"
        )
    parts.append(f"docs {{\n{_indent(docs, 2)}\n}}\n")
    return "\n".join(parts)


def endpoints_of(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path, methods in spec.get("paths", {}).items():
        for method, operation in methods.items():
            if method in HTTP_METHODS:
                out.append((method.upper(), path, operation))
    return out


def expected_answer(operation: dict[str, Any], spec: dict[str, Any]) -> list[tuple[str, str]]:
    """Assertions for the operation's success answer: its status and, for a JSON object, that
    its first required field is there."""
    codes = sorted(c for c in operation.get("responses", {}) if str(c).startswith("2"))
    if not codes:
        return []
    checks = [("res.status", f"eq {codes[0]}")]
    content = operation["responses"][codes[0]].get("content", {}).get("application/json", {})
    schema = content.get("schema", {})
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec.get("components", {}).get("schemas", {}).get(name, {})
    required = schema.get("required") or []
    if required:
        checks.append((f"res.body.{required[0]}", "isDefined"))
    return checks


def generate(root: Path, spec: dict[str, Any]) -> list[Path]:
    """Write a `.bru` file for each endpoint of `spec` the collection does not cover yet."""
    existing = load_collection(root) if (root / "bruno.json").exists() else None
    covered = {
        (r.method, re.sub(r":(\w+)", r"{\1}", r.url.split("?")[0].replace("{{baseUrl}}", "")))
        for r in (existing.requests if existing else ())
    }
    written: list[Path] = []
    seqs: dict[str, int] = {}
    for method, path, operation in endpoints_of(spec):
        if (method, path) in covered:
            continue
        folder = (operation.get("tags") or ["misc"])[0]
        seqs[folder] = seqs.get(folder, 100) + 1
        query, path_params = [], []
        for param in operation.get("parameters", []):
            schema = param.get("schema", {})
            value = schema.get("default", _example(schema, spec))
            if param.get("in") == "query":
                query.append(
                    (
                        param["name"],
                        str(value).lower() if isinstance(value, bool) else str(value),
                        param.get("required", False),
                    )
                )
            elif param.get("in") == "path":
                path_params.append((param["name"], f"{{{{{param['name']}}}}}"))
        body = None
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            body = _example(content["application/json"].get("schema", {}), spec)
        secured = not path.startswith("/healthz") and "openapi" not in path
        name = operation.get("summary") or f"{method} {path}"
        target = root / folder / f"{_slug(name)}.bru"
        n = 2
        while target.exists():
            target = root / folder / f"{_slug(name)}-{n}.bru"
            n += 1
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            request_text(
                name=name.replace("\n", " "),
                method=method,
                path=path,
                seq=seqs[folder],
                query=query,
                path_params=path_params,
                body=body,
                docs=f"{method} {path}\n\n{operation.get('description') or name}".strip(),
                auth=secured,
                asserts=expected_answer(operation, spec),
            ),
            encoding="utf-8",
        )
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3 or args[0] != "generate":
        print("usage: python -m hashinsight_tui.bruno generate <collection dir> <openapi.json>")
        return 2
    spec = loads(Path(args[2]).read_bytes(), max_bytes=64 << 20, what="OpenAPI spec")
    for path in generate(Path(args[1]), spec):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
