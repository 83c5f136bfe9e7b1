"""Every table of every service, imported in one place so Alembic sees the whole schema."""

from backend.api.exports_models import ExportRow  # noqa: F401  (bulk export jobs)
from backend.auth.models import ApiKeyRow
from backend.core.audit import AuditEntry
from backend.core.db import Base
from backend.core.lease import LeaseRow  # noqa: F401  (named leases: issuer, notary, shards)
from backend.fleet.models import FleetMinerRow  # noqa: F401  (all fleet tables)
from backend.fleet.shard import FleetCollectorRow  # noqa: F401  (collector heartbeats)
from backend.issuer.models import IssueRow  # noqa: F401  (all issuer tables)
from backend.market.samples import MarketSampleRow  # noqa: F401  (recorded market history)
from backend.notary.models import NotarizationRow  # noqa: F401  (notary tables)
from backend.notify.models import WebhookRow  # noqa: F401  (webhooks; partners are in auth)
from backend.wallet.models import WalletLoginRow  # noqa: F401  (all wallet tables)

__all__ = ["ApiKeyRow", "AuditEntry", "Base"]
