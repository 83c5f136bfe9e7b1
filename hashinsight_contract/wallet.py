"""API shapes of the wallet login (Sign-In with Ethereum) and the login log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hashinsight_contract.common import KeyOut


def required_in_spec(*names: str) -> Callable[[dict[str, Any]], None]:
    """Mark fields required (and non-null) in the JSON schema while the model still accepts them
    missing: the wallet service checks them itself so that a bad login answers 400 with its reason
    and lands in the login log, but clients generated from the spec must always send them."""

    def extra(schema: dict[str, Any]) -> None:
        properties = schema["properties"]
        for name in names:
            prop = properties[name]
            branches = [b for b in prop.pop("anyOf", ()) if b.get("type") != "null"]
            if branches:
                prop.update(branches[0])
            prop.pop("default", None)
        present = list(schema.get("required", ()))
        schema["required"] = present + [n for n in names if n not in present]

    return extra


class WalletNonceRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra=required_in_spec("wallet_address"))

    wallet_address: str | None = Field(default=None, max_length=100, examples=["0xAb…"])


class WalletNonceOut(BaseModel):
    nonce: str
    message: str = Field(description="The exact EIP-4361 text to personal_sign")
    domain: str
    uri: str
    chain_id: int
    issued_at: str
    expires_at: str


class WalletLoginRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra=required_in_spec("wallet_address", "signature", "nonce")
    )

    wallet_address: str | None = Field(default=None, max_length=100)
    signature: str | None = Field(default=None, max_length=200)
    nonce: str | None = Field(default=None, max_length=100)
    message: str | None = Field(
        default=None, max_length=4000, description="Optional: must equal the issued message"
    )


class WalletLoginOut(BaseModel):
    ok: bool
    wallet_address: str
    session_token: str = Field(description="Also set as an HttpOnly cookie")
    expires_at: str


class WalletMe(BaseModel):
    wallet_address: str
    expires_at: str
    keys: list[KeyOut]


class RevealedKey(BaseModel):
    key_id: str
    api_key: str


class LogoutOut(BaseModel):
    ok: bool


class WalletLoginEvent(BaseModel):
    """A login attempt as the `wallet` stream carries it. Any stream key can subscribe, so it
    leaves out what places a person: the IP, user agent, ISP and coordinates."""

    id: int
    at: str
    address: str | None
    outcome: Literal["ok", "rejected", "rate_limited"]
    reason: str | None
    geo_status: Literal["pending", "ok", "skipped", "failed", "rate_limited"]
    geo_detail: str | None
    country: str | None
    country_code: str | None
    region: str | None
    city: str | None


class WalletLoginEntry(WalletLoginEvent):
    """A login attempt in the login log (operators only): the event and what it leaves out."""

    ip: str | None
    user_agent: str | None
    lat: float | None
    lon: float | None
    isp: str | None


# What a login's event leaves out of its log entry.
PRIVATE_LOGIN_FIELDS: tuple[str, ...] = tuple(
    name for name in WalletLoginEntry.model_fields if name not in WalletLoginEvent.model_fields
)


class WalletLoginList(BaseModel):
    items: list[WalletLoginEntry]
    total: int
