"""CGMiner RPC wire protocol: encode requests, decode (and repair) replies.

Pure functions only: no sockets here, so every quirk can be tested from captured bytes.

Real firmwares bend the protocol: Antminer bmminer emits ``}{`` between STATS objects,
some builds print bare ``inf``/``nan``, cgminer answers ``restart`` with the invalid
``{"RESTART","id":1}``, Whatsminer puts STATUS in a bare string with an object ``Msg``,
and every reply may end with a NUL. We repair what is unambiguous and raise a typed
error (with a short snippet, never the whole payload) for the rest.

Anything on port 4028 may answer, so a reply is bounded (size and nesting, by
``backend.core.untrusted``) before it is parsed, and every way parsing can fail (bad JSON,
a number too long for ``int``) becomes a ``CgminerProtocolError``. Non-finite numbers
(``nan``, ``inf``, ``1e999``) decode as Python's nan/inf so the normaliser can flag them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, AnyStr

import orjson

from backend.core.untrusted import UntrustedInputError, check_bounds

# The one bound on a reply's size: the transport stops reading past it, the decoder refuses it.
MAX_REPLY_BYTES = 1 << 20  # a full Antminer STATS is ~10 KiB; 1 MiB is generous
# Replies nest 5 deep. 128 is far below the recursion limit, and above the count of opening
# brackets in any real reply (a joined Braiins reply has ~70), so check_bounds skips its scan
# for them: that scan costs more than decoding the reply.
MAX_REPLY_DEPTH = 128

# cgminer api.c message codes the rest of the product cares about.
CODE_NO_DEVICES = 10
CODE_INVALID_COMMAND = 14
CODE_INVALID_JSON = 23
CODE_MISSING_COMMAND = 24
CODE_MISSING_POOL_ID = 25
CODE_INVALID_POOL_ID = 26
CODE_ACCESS_DENIED = 45

STATUS_LETTERS = frozenset("SIWEF")
SNIPPET_CHARS = 80

# Reply section that each report command fills (used to shape plain-text replies).
COMMAND_SECTIONS: dict[str, str] = {
    "version": "VERSION",
    "config": "CONFIG",
    "summary": "SUMMARY",
    "pools": "POOLS",
    "devs": "DEVS",
    "edevs": "DEVS",
    "stats": "STATS",
    "estats": "STATS",
    "devdetails": "DEVDETAILS",
    "notify": "NOTIFY",
    "coin": "COIN",
    "fans": "FANS",
    "temps": "TEMPS",
    "tempctrl": "TEMPCTRL",
    "tunerstatus": "TUNERSTATUS",
    "check": "CHECK",
    "lcd": "LCD",
}

# Plain-text sections name their rows in the singular ("POOL=0,..."); JSON uses the list name.
_TEXT_ROW_TO_SECTION: dict[str, str] = {
    "POOL": "POOLS",
    "ASC": "DEVS",
    "PGA": "DEVS",
    "GPU": "DEVS",
    "CPU": "DEVS",
    "FAN": "FANS",
    "TEMP": "TEMPS",
}
_KNOWN_TEXT_SECTIONS = frozenset(COMMAND_SECTIONS.values()) | frozenset(_TEXT_ROW_TO_SECTION)

_ADJACENT = frozenset({("}", "{"), ("]", "["), ("}", "["), ("]", "{")})
_BARE_REPLY = re.compile(r'^\{\s*"(BYE|RESTART)"\s*(?=[,}])')
_NON_FINITE = frozenset(
    {"nan", "-nan", "+nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"}
)
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_LOOSE_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_BARE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-._")
_VALID_ESCAPES = frozenset('"\\/bfnrt')
# One JSON-ish token: a string literal (group 1 set when closed), punctuation, a bare
# word/number, whitespace, or any other single character.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*(")?|[{}\[\],:]|[A-Za-z0-9+\-._]+|\s+|.', re.DOTALL)
_CLEAN_STRING = re.compile(r'"(?:[^"\\\x00-\x1f\x7f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"')
_HEX = frozenset("0123456789abcdefABCDEF")
_BINARY = re.compile("[\ufffd\x00-\x08\x0e-\x1f]")  # not UTF-8, or control characters


# --------------------------------------------------------------------------- errors


class CgminerError(Exception):
    """Base class for everything this layer raises about a miner."""


class CgminerProtocolError(CgminerError):
    """The miner sent bytes we cannot turn into a reply."""

    def __init__(self, reason: str, data: bytes | str | None = None) -> None:
        self.reason = reason
        self.snippet = make_snippet(data) if data else None
        super().__init__(f"{reason}: {self.snippet}" if self.snippet else reason)


class CgminerCommandError(CgminerError):
    """The miner answered with an error STATUS (E/F); ``code`` is the cgminer message code."""

    def __init__(
        self,
        code: int | None,
        msg: str,
        command: str | None = None,
        description: str | None = None,
    ) -> None:
        self.code = code
        self.msg = msg
        self.command = command
        self.description = description
        super().__init__(_command_error_text(code, msg, command))


def _command_error_text(code: int | None, msg: str, command: str | None) -> str:
    if code == CODE_ACCESS_DENIED:
        return "access denied (miner API is read-only for this host)"
    where = f"'{command}'" if command else "command"
    if code == CODE_INVALID_COMMAND:
        return f"invalid command {where} (code 14)"
    if code == CODE_INVALID_JSON:
        return "miner rejected the request as invalid JSON (code 23)"
    suffix = f" (code {code})" if code is not None else ""
    return f"{where} failed: {msg or 'no message'}{suffix}"


def make_snippet(data: bytes | str, limit: int = SNIPPET_CHARS) -> str:
    """Short printable excerpt (at most ``limit`` printed chars) for errors and logs."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes | bytearray) else data
    shown: list[str] = []
    size = 0
    for used, ch in enumerate(text):
        code = ord(ch)
        piece = ch if ch.isprintable() else (f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}")
        if size + len(piece) > limit:
            return "".join(shown) + f"... ({len(text) - used} more chars)"
        shown.append(piece)
        size += len(piece)
    return "".join(shown)


# --------------------------------------------------------------------------- requests


def _check_name(command: str) -> None:
    if not command or any(ch in command for ch in "|\x00\r\n") or command != command.strip():
        raise ValueError(f"invalid cgminer command name: {command!r}")


def encode_request(command: str, parameter: object | None = None, *, text: bool = False) -> bytes:
    """Encode one request; JSON by default (cgminer replies in the format it was asked)."""
    if parameter is None:
        return _encode_report(command, text)  # every sweep asks the same few: cached
    return _encode(command, parameter, text)


@lru_cache(maxsize=256)
def _encode_report(command: str, text: bool) -> bytes:
    return _encode(command, None, text)


def _encode(command: str, parameter: object | None, text: bool) -> bytes:
    _check_name(command)
    if text:
        raw = command if parameter is None else f"{command}|{parameter}"
        return raw.encode()
    body: dict[str, str] = {"command": command}
    if parameter is not None:
        body["parameter"] = str(parameter)
    return json.dumps(body, separators=(",", ":")).encode()


def join_commands(commands: Iterable[str]) -> str:
    """``["summary", "stats"]`` -> ``"summary+stats"`` (API >= 3.1 joined report commands)."""
    return _join(tuple(commands))


@lru_cache(maxsize=256)
def _join(commands: tuple[str, ...]) -> str:
    seen: list[str] = []
    for command in commands:
        _check_name(command)
        if "+" in command:
            raise ValueError(f"command already joined: {command!r}")
        if command not in seen:
            seen.append(command)
    if not seen:
        raise ValueError("no commands to join")
    return "+".join(seen)


def escape_parameter(value: str) -> str:
    """Escape one addpool-style field: cgminer splits parameters on unescaped commas."""
    return value.replace("\\", "\\\\").replace(",", "\\,")


# --------------------------------------------------------------------------- replies


def decode_reply(
    data: bytes | str, command: str | None = None, *, max_bytes: int = MAX_REPLY_BYTES
) -> dict[str, Any]:
    """Turn raw reply bytes into a dict, repairing known firmware damage.

    ``command`` only helps shape plain-text replies (which do not name their section).
    Raises ``CgminerProtocolError`` (never anything else) for input it cannot use.
    """
    try:
        check_bounds(data, max_bytes=max_bytes, max_depth=MAX_REPLY_DEPTH, what="reply")
    except UntrustedInputError as exc:
        raise CgminerProtocolError(str(exc)) from None
    if isinstance(data, bytes):
        fast = _decode_strict(data)
        if fast is not None:
            return fast
    text = data.decode("utf-8", "replace") if isinstance(data, bytes | bytearray) else data
    text = text.strip("\x00 \t\r\n")
    if not text:
        raise CgminerProtocolError("empty reply")
    if text[0] in "{[":
        return _decode_json(text)
    if text.upper() in ("BYE", "RESTART"):
        return {"STATUS": text.upper()}
    if "STATUS=" in text or text.startswith("CMD="):
        return parse_text_reply(text, command)
    if _BINARY.search(text, 0, SNIPPET_CHARS * 4):
        raise CgminerProtocolError("reply is binary data, not JSON or cgminer text")
    raise CgminerProtocolError("reply is neither JSON nor cgminer text", text)


def _decode_strict(data: bytes) -> dict[str, Any] | None:
    """The reply as the repairing path would read it, when orjson can: None otherwise.

    Every healthy miner's reply is strict JSON (once Antminer's ``}{`` has its commas), which
    orjson parses from the bytes in about half the time of ``json``, with no UTF-8 decode first.
    Anything it refuses (NaN, raw control characters, bad UTF-8, lone surrogates, ``1e999``)
    takes the repairing path, and so does any run of 19+ digits: orjson reads an integer past
    64 bits as a float where ``json`` keeps it exact. Same input, same dict.
    """
    raw = data.strip(b"\x00 \t\r\n")
    if raw[:1] not in (b"{", b"[") or _ZEROS_19 in raw.translate(_DIGITS_TO_ZERO):
        return None
    if b"}{" in raw and b"\\" not in raw:
        raw = _comma_between_objects(raw)
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if obj.__class__ is list and len(obj) == 1 and obj[0].__class__ is dict:
        obj = obj[0]
    return obj if obj.__class__ is dict else None


_DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_ZEROS_19 = b"0" * 19


def _decode_json(text: str) -> dict[str, Any]:
    try:
        obj = _parse_json(text)
    except CgminerProtocolError:
        raise
    except RecursionError:  # unreachable after check_bounds; kept so it can never escape
        raise CgminerProtocolError("invalid JSON (nested too deep)") from None
    except ValueError as exc:  # int's digit limit (a 5,000-digit number), bad surrogates
        why = "a number has too many digits" if "digits" in str(exc) else "undecodable value"
        raise CgminerProtocolError(f"invalid JSON ({why})") from None
    if isinstance(obj, list) and len(obj) == 1 and isinstance(obj[0], dict):
        obj = obj[0]
    if not isinstance(obj, dict):
        raise CgminerProtocolError("reply is not a JSON object", text)
    return obj


def _parse_json(text: str) -> Any:
    try:
        return _loads_missing_commas(text)
    except json.JSONDecodeError:
        repaired, complete = repair_json(text)
        try:
            return _DECODER.decode(repaired)
        except json.JSONDecodeError as exc:
            if not complete:
                raise CgminerProtocolError(f"truncated reply ({len(text)} chars)", text) from None
            raise CgminerProtocolError(f"invalid JSON ({exc.msg})", text) from None


def _loads_missing_commas(text: str, attempts: int = 8) -> Any:
    """Fast path for the common Antminer damage: ``}{`` between array items.

    Without backslashes in the text, a ``}{`` is outside every string exactly when an even
    number of quotes precede it: those get their comma before the first parse (Antminer
    STATS would otherwise be parsed twice, once up to the error). Anything else is
    repaired from the decoder's error position, which is outside any string too, so
    inserting the missing comma exactly there cannot alter string content.
    """
    if "}{" in text and "\\" not in text:
        text = _comma_between_objects(text)
    for _ in range(attempts):
        try:
            return _DECODER.decode(text)
        except json.JSONDecodeError as exc:
            pos = exc.pos
            between = (text[:pos].rstrip()[-1:], text[pos : pos + 1])
            if not exc.msg.startswith("Expecting ',' delimiter") or between not in _ADJACENT:
                raise
            text = f"{text[:pos]},{text[pos:]}"
    return _DECODER.decode(text)


def _comma_between_objects(text: AnyStr) -> AnyStr:
    """Insert ``,`` into each ``}{`` outside strings (text known to hold no backslash).

    Works on text or on UTF-8 bytes alike (no multi-byte character contains a ``"`` byte)."""
    pair, quote, comma = ("}{", '"', ",") if isinstance(text, str) else (b"}{", b'"', b",")
    parts: list[AnyStr] = []
    start = quotes = counted = 0  # quotes before `counted`: one scan of the text in all
    pos = text.find(pair)  # type: ignore[arg-type]
    while pos != -1:
        quotes += text.count(quote, counted, pos)  # type: ignore[arg-type]
        counted = pos
        if quotes % 2 == 0:
            parts.append(text[start : pos + 1])
            start = pos + 1
        pos = text.find(pair, pos + 1)  # type: ignore[arg-type]
    if not parts:
        return text
    parts.append(text[start:])
    return comma.join(parts)  # type: ignore[arg-type,return-value]


# Non-finite numbers stay nan/inf (the C decoder's own handling of NaN, Infinity and
# overflowing literals): the normaliser flags them where they are read, no second walk here.
_DECODER = json.JSONDecoder(strict=False)  # one decoder: json.loads(**kw) builds one per call


def repair_json(text: str) -> tuple[str, bool]:
    """Rewrite broken-but-unambiguous JSON; returns (text, structurally_complete).

    Works token by token outside strings so URLs or messages containing ``}{`` or
    ``inf`` are never touched. Content after the first complete top-level value
    (a second concatenated document, trailing garbage after the NUL) is dropped.
    """
    text = _BARE_REPLY.sub(r'{"STATUS":"\1"', text, count=1)
    out: list[str] = []
    depth = 0
    last = ""  # last significant token emitted outside strings
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        first = token[0]
        if first == '"':
            closed = match.group(1) is not None
            out.append(token if _CLEAN_STRING.fullmatch(token) else _fix_string(token, closed))
            if not closed:
                return "".join(out), False
            last = '"'
        elif first in "{[":
            if last in ("}", "]") and depth:
                out.append(",")  # Antminer STATS: "}{" between array items
            out.append(first)
            depth += 1
            last = first
        elif first in "}]":
            if last == ",":
                out.pop()  # trailing ",}" / ",]"
            out.append(first)
            depth -= 1
            last = first
            if depth <= 0:
                return "".join(out), True
        elif first == ",":
            if last not in ("", "[", "{", ",", ":"):
                out.append(",")
                last = ","
        elif first == ":":
            out.append(":")
            last = ":"
        elif first in _BARE_CHARS:
            out.append(_repair_bare(token))
            last = "v"
        elif first.isspace() or ord(first) < 0x20 or first == "\x7f":
            continue  # whitespace and stray control characters between tokens
        else:
            out.append(token)  # genuine garbage: let the JSON parser report it
            last = token
    return "".join(out), depth <= 0


def _fix_string(token: str, closed: bool) -> str:
    """Escape raw control characters and lone backslashes inside one string literal."""
    body = token[1:-1] if closed else token[1:]
    parts = ['"']
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1] if i + 1 < n else ""
            if nxt and nxt in _VALID_ESCAPES:
                parts.append(ch + nxt)
                i += 2
                continue
            if nxt == "u" and i + 6 <= n and all(c in _HEX for c in body[i + 2 : i + 6]):
                parts.append(body[i : i + 6])
                i += 6
                continue
            parts.append("\\\\")  # lone backslash (e.g. a Windows path in a pool user)
        elif ord(ch) < 0x20 or ch == "\x7f":
            parts.append(f"\\u{ord(ch):04x}")
        else:
            parts.append(ch)
        i += 1
    if closed:
        parts.append('"')
    return "".join(parts)


def _repair_bare(token: str) -> str:
    low = token.lower()
    if low in _NON_FINITE:
        return "NaN" if "nan" in low else ("-Infinity" if low[0] == "-" else "Infinity")
    if low in ("true", "false", "null"):
        return low
    if _JSON_NUMBER.fullmatch(token):
        return token
    if _LOOSE_NUMBER.fullmatch(token):  # "+5", "007", "1." style numbers
        number = float(token)
        if number - number != 0:  # "+1e999": as the decoder reads an overflowing literal
            return "-Infinity" if number < 0 else "Infinity"
        return str(int(number)) if number.is_integer() and "." not in token else repr(number)
    return json.dumps(token)  # unquoted word such as Alive


# --------------------------------------------------------------------------- plain text


def parse_text_reply(text: str, command: str | None = None) -> dict[str, Any]:
    """Parse ``STATUS=S,...|SUMMARY,Elapsed=...|`` into the JSON-shaped dict.

    Joined text replies (``CMD=summary|STATUS=...|CMD=pools|...``) come back in the
    JSON joined shape: ``{"summary": [reply], "pools": [reply]}``.
    """
    sections = [s for s in _split_escaped(text.strip("\x00 \r\n"), "|") if s.strip()]
    if not sections:
        raise CgminerProtocolError("empty text reply")
    if sections[0].startswith("CMD="):
        joined: dict[str, Any] = {}
        current: str | None = None
        chunk: list[str] = []
        for section in [*sections, "CMD="]:
            if section.startswith("CMD="):
                if current is not None:
                    joined[current] = [_text_sections_to_reply(chunk, current)]
                current = _unescape(section[4:]) or None
                chunk = []
            else:
                chunk.append(section)
        return joined
    return _text_sections_to_reply(sections, command)


def _text_sections_to_reply(sections: list[str], command: str | None) -> dict[str, Any]:
    reply: dict[str, Any] = {}
    parsed: list[tuple[str, dict[str, str]]] = []
    for section in sections:
        items = _split_escaped(section, ",")
        row: dict[str, str] = {}
        name = ""
        for pos, item in enumerate(items):
            key, sep, value = _partition_escaped(item, "=")
            if not sep:
                if pos == 0:
                    name = _unescape(key).strip()
                continue
            if pos == 0:
                name = _unescape(key).strip()
            row[_unescape(key).strip()] = _unescape(value)
        parsed.append((name, row))
    if not parsed or parsed[0][0] != "STATUS":
        if len(parsed) == 1 and parsed[0][0].upper() in ("BYE", "RESTART"):
            return {"STATUS": parsed[0][0].upper()}
        raise CgminerProtocolError("text reply does not start with STATUS", "|".join(sections))
    reply["STATUS"] = [parsed[0][1]]
    default = COMMAND_SECTIONS.get(command or "")
    if default is None:
        known = [n for n, _ in parsed[1:] if n in _KNOWN_TEXT_SECTIONS]
        default = _TEXT_ROW_TO_SECTION.get(known[0], known[0]) if known else None
    for name, row in parsed[1:]:
        if command in COMMAND_SECTIONS or name not in _KNOWN_TEXT_SECTIONS:
            target = default or name
        else:
            target = _TEXT_ROW_TO_SECTION.get(name, name)
        reply.setdefault(target, []).append(row)
    reply["id"] = 1
    return reply


def _split_escaped(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    buf: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    return parts


def _partition_escaped(text: str, sep: str) -> tuple[str, str, str]:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == sep:
            return text[:i], sep, text[i + 1 :]
        i += 1
    return text, "", ""


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# --------------------------------------------------------------------------- STATUS


@dataclass(frozen=True, slots=True)
class Status:
    """The STATUS section of a reply, whatever shape the firmware used."""

    code: int | None
    status: str  # 'S', 'I', 'W', 'E' or 'F'
    msg: str
    description: str
    when: int | None

    @property
    def is_error(self) -> bool:
        return self.status in ("E", "F")


def parse_status(reply: Mapping[str, Any]) -> Status:
    """Read STATUS as cgminer's one-element list, Whatsminer's bare string, or BYE/RESTART."""
    raw = reply.get("STATUS")
    if isinstance(raw, list) and raw and isinstance(raw[0], Mapping):
        head: Mapping[str, Any] = raw[0]
        letter = str(head.get("STATUS", "")).strip().upper()
    elif isinstance(raw, str):
        word = raw.strip().upper()
        if word in ("BYE", "RESTART"):
            return Status(code=None, status="S", msg=word, description="", when=None)
        head, letter = reply, word
    else:
        raise CgminerProtocolError("reply has no STATUS section", _compact(reply))
    if letter not in STATUS_LETTERS:
        raise CgminerProtocolError(f"unknown STATUS value {letter!r}", _compact(reply))
    msg = head.get("Msg")
    return Status(
        code=_as_int(head.get("Code")),
        status=letter,
        msg=msg if isinstance(msg, str) else "",
        description=str(head.get("Description") or ""),
        when=_as_int(head.get("When")),
    )


def check_status(reply: Mapping[str, Any], command: str | None = None) -> Status:
    """Return the Status, raising CgminerCommandError for E/F replies."""
    status = parse_status(reply)
    if status.is_error:
        raise CgminerCommandError(status.code, status.msg, command, status.description)
    return status


def message_object(reply: Mapping[str, Any]) -> dict[str, Any] | None:
    """Whatsminer ``get_*``/``status`` replies carry their data in an object ``Msg``."""
    msg = reply.get("Msg")
    return dict(msg) if isinstance(msg, Mapping) else None


def section_rows(reply: Mapping[str, Any], section: str) -> list[dict[str, Any]]:
    """Rows of one section (``SUMMARY``, ``POOLS``...), tolerating a lone object."""
    value = reply.get(section)
    if isinstance(value, Mapping):
        return [dict(value)]
    if isinstance(value, list):
        return [dict(row) for row in value if isinstance(row, Mapping)]
    return []


# --------------------------------------------------------------------------- joined replies


def is_joined_reply(reply: Mapping[str, Any]) -> bool:
    """A joined reply has lowercase command keys and no top-level STATUS."""
    return joined_parts(reply) is not None


def joined_parts(reply: Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
    """``split_joined`` for a reply that may not be joined: None when it is not."""
    if "STATUS" in reply:
        return None
    return _joined_parts(reply) or None


def split_joined(reply: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"summary": [ {...} ], "pools": [ {...} ]}`` -> ``{"summary": {...}, ...}``."""
    if "STATUS" in reply:
        raise CgminerProtocolError("not a joined reply (has a top-level STATUS)", _compact(reply))
    parts = _joined_parts(reply)
    if not parts:
        raise CgminerProtocolError("not a joined reply", _compact(reply))
    return parts


def _joined_parts(reply: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    parts: dict[str, dict[str, Any]] = {}
    for key, value in reply.items():
        if key == "id" or key == key.upper():
            continue
        if isinstance(value, list) and value and isinstance(value[0], Mapping):
            value = value[0]
        if isinstance(value, Mapping) and "STATUS" in value:
            parts[key] = dict(value)
    return parts


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except (ValueError, OverflowError):  # "x", "1e999"
            return None
    return None


def _compact(obj: Any) -> str:
    try:
        return json.dumps(obj, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return repr(obj)
