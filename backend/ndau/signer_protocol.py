"""The signing-service protocol: JSON text frames over a websocket the signer dials into.

The full description (with examples) is in ``backend/issuer/SIGNER_PROTOCOL.md``. This module
holds what both ends share: message names, the exact bytes a signer signs to authenticate, and
small validators, so the hub and ``hashinsight signer`` cannot drift apart.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from backend.core.untrusted import UntrustedInputError, loads

VERSION = 1
PATH = "/api/v1/issuer/signer"
AUTH_DOMAIN = b"hashinsight-signer-auth/v1"
MAX_FRAME_BYTES = 64 * 1024

# hub -> signer
CHALLENGE = "challenge"
WELCOME = "welcome"
SIGN_REQUEST = "sign_request"
# signer -> hub
HELLO = "hello"
SIGN_REPLY = "sign_reply"
# both ways
PING = "ping"
PONG = "pong"
ERROR = "error"

CLOSE_AUTH_FAILED = 4001
CLOSE_PROTOCOL = 4002
CLOSE_REPLACED = 4009

# Error codes a signer may put in a sign_reply.
SIGN_ERRORS = frozenset({"unknown_key", "refused", "bad_request", "unsupported_tx", "internal"})


class ProtocolError(ValueError):
    """A frame that does not follow the protocol; the message says which rule it broke."""


def auth_message(nonce: bytes, hub_id: str) -> bytes:
    """What a signer signs with its identity key to answer a challenge.

    The domain tag keeps the signature useless for anything else (it can never be an Issue
    tx's signable bytes), and the hub id binds it to the hub that asked.
    """
    return AUTH_DOMAIN + b"\n" + hub_id.encode() + b"\n" + nonce


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise ProtocolError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise ProtocolError(f"{what} is not valid base64") from None


def encode(message: dict[str, Any]) -> str:
    return json.dumps({"v": VERSION, **message}, separators=(",", ":"))


def decode(text: str | bytes) -> dict[str, Any]:
    """Parse one frame; raise `ProtocolError` for anything that is not a typed JSON object."""
    if isinstance(text, bytes):
        raise ProtocolError("frames must be JSON text, not binary")
    try:
        message = loads(text, max_bytes=MAX_FRAME_BYTES, what="frame")
    except UntrustedInputError as exc:
        raise ProtocolError(str(exc)) from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("a frame must be a JSON object with a string 'type'")
    if message.get("v", VERSION) != VERSION:
        raise ProtocolError(f"unsupported protocol version {message.get('v')!r}")
    return message


def str_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError(f"{what} must be a list of strings")
    return list(value)
