"""Async Python client of the HashInsight API — what the console uses, and the partners' SDK.

    async with HashInsightClient("http://127.0.0.1:8765", api_key) as client:
        report = await client.health()
        async for event in client.stream(["health"]):
            print(event.channel, event.event, event.data)

Every answer is returned as its `hashinsight_contract` model, the same class the backend answers
with. Errors are typed: `AuthError` (401/403), `ApiError` (any other error answer, with the API's
code and message), `InvalidAnswer` (an answer that does not fit the contract), `ConnectionLost`
(no answer at all). The key is sent only in the Authorization header and never appears in a repr
or an exception.

The calls live in `hashinsight_tui/sdk/`, one module per API area over one transport;
this module composes them into the client and names what other code imports.
"""

from __future__ import annotations

from hashinsight_contract.common import HealthReport, IntegrationOut, KeyOut
from hashinsight_contract.issuer import (
    IssueDetailOut,
    IssueOut,
    IssuerStatusOut,
    ReconciliationOut,
)
from hashinsight_contract.market import ExchangesOut, PriceCurrent, VenueOut
from hashinsight_contract.network import BlockOut, BlocksOut
from hashinsight_contract.notary import NotarizationOut, VerificationOut
from hashinsight_contract.partners import (
    DeliveryOut,
    ExportOut,
    HistoricalOut,
    KeyCreated,
    KeyDetail,
    PartnerOut,
    PartnerRegistered,
    WebhookOut,
)
from hashinsight_contract.wallet import WalletLoginEntry
from hashinsight_tui.sdk.alerts import AlertCalls
from hashinsight_tui.sdk.commands import CommandCalls
from hashinsight_tui.sdk.credentials import CredentialCalls
from hashinsight_tui.sdk.exports import ExportCalls
from hashinsight_tui.sdk.fleet import FleetCalls
from hashinsight_tui.sdk.health import HealthCalls
from hashinsight_tui.sdk.issuer import IssuerCalls
from hashinsight_tui.sdk.keys import KeyCalls
from hashinsight_tui.sdk.market import MarketCalls
from hashinsight_tui.sdk.notary import NotaryCalls
from hashinsight_tui.sdk.stream import StreamCalls, StreamEvent
from hashinsight_tui.sdk.transport import (
    ApiError,
    AuthError,
    ConnectionLost,
    InvalidAnswer,
    RateLimitState,
    RawExchange,
)
from hashinsight_tui.sdk.webhooks import WebhookCalls

# The console's names for contract models it reads.
Integration = IntegrationOut
KeyInfo = KeyOut
IssuerStatus = IssuerStatusOut
Reconciliation = ReconciliationOut
Notarization = NotarizationOut
Verification = VerificationOut
WalletLogin = WalletLoginEntry
PriceNow = PriceCurrent
ExchangesView = ExchangesOut
Venue = VenueOut
ChainBlock = BlockOut
ChainBlocks = BlocksOut
ManagedKey = KeyDetail
CreatedKey = KeyCreated
Partner = PartnerOut
PartnerRegistration = PartnerRegistered
Webhook = WebhookOut
Delivery = DeliveryOut
ExportJob = ExportOut
Historical = HistoricalOut

__all__ = [
    "ApiError",
    "AuthError",
    "ChainBlock",
    "ChainBlocks",
    "ConnectionLost",
    "CreatedKey",
    "Delivery",
    "ExchangesView",
    "ExportJob",
    "HashInsightClient",
    "HealthReport",
    "Historical",
    "Integration",
    "InvalidAnswer",
    "IssueDetailOut",
    "IssueOut",
    "IssuerStatus",
    "KeyInfo",
    "ManagedKey",
    "Notarization",
    "Partner",
    "PartnerRegistration",
    "PriceNow",
    "RateLimitState",
    "RawExchange",
    "Reconciliation",
    "StreamEvent",
    "Venue",
    "Verification",
    "WalletLogin",
    "Webhook",
]


class HashInsightClient(
    HealthCalls,
    StreamCalls,
    NotaryCalls,
    MarketCalls,
    FleetCalls,
    CommandCalls,
    CredentialCalls,
    AlertCalls,
    IssuerCalls,
    KeyCalls,
    WebhookCalls,
    ExportCalls,
):
    """One backend, one key: every area's calls over one shared connection (`ApiTransport`)."""
