"""EIP-4361 messages: the spec's example parses, ours round-trip, malformed ones are refused."""

from __future__ import annotations

import pytest

from backend.wallet.siwe import SiweError, SiweMessage, new_nonce, parse

EIP_EXAMPLE = """service.org wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ServiceOrg Terms of Service: https://service.org/tos

URI: https://service.org/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""

OURS = SiweMessage(
    domain="127.0.0.1:8765",
    address="0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
    uri="http://127.0.0.1:8765/login",
    chain_id=84532,
    nonce="abcDEF123456",
    issued_at="2024-01-01T00:00:00.000Z",
    statement="Sign in to HashInsight to see your partner API keys.",
    expiration_time="2024-01-01T00:05:00.000Z",
)


def test_the_eip_example_parses_and_prints_back_identically() -> None:
    message = parse(EIP_EXAMPLE)
    assert message.domain == "service.org" and message.chain_id == 1
    assert message.nonce == "32891756" and len(message.resources) == 2
    assert message.statement == "I accept the ServiceOrg Terms of Service: https://service.org/tos"
    assert message.text() == EIP_EXAMPLE


def test_our_messages_round_trip_with_and_without_statement() -> None:
    assert parse(OURS.text()) == OURS
    plain = SiweMessage(
        domain=OURS.domain,
        address=OURS.address,
        uri=OURS.uri,
        chain_id=1,
        nonce=OURS.nonce,
        issued_at=OURS.issued_at,
    )
    assert "\n\n\nURI: " in plain.text()  # ABNF: address LF LF LF when there is no statement
    assert parse(plain.text()) == plain


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (("wants you to sign in", "wants you to log in"), "first line"),
        (
            (
                "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
                "0xC02AAA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
            ),
            "checksummed",
        ),
        (("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0x1234"), "40 hex"),
        (("Version: 1", "Version: 2"), "Version must be 1"),
        (("Nonce: abcDEF123456", "Nonce: abc"), "Nonce"),
        (("Chain ID: 84532", "Chain ID: base"), "Chain ID"),
        (("Issued At: 2024-01-01T00:00:00.000Z", "Issued At: yesterday"), "Issued At"),
        (("URI: http://", "URI:  http://"), "URI"),
        (("\nVersion", "\r\nVersion"), "LF"),
        (("Expiration Time: 2024-01-01T00:05:00.000Z", "Expiration Time: 2024-01-01"), "time zone"),
    ],
)
def test_malformed_messages_are_refused(change: tuple[str, str], error: str) -> None:
    text = OURS.text().replace(*change)
    assert text != OURS.text()
    with pytest.raises(SiweError, match=error):
        parse(text)
    with pytest.raises(SiweError, match="unexpected text"):
        parse(OURS.text() + "\nextra")


def test_nonces_are_long_alphanumeric_and_unique() -> None:
    nonces = {new_nonce() for _ in range(200)}
    assert len(nonces) == 200
    assert all(len(n) == 22 and n.isalnum() for n in nonces)
