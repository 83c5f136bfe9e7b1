"""The backend's rooms, registered in one place: each feature's service, its settings block, its
API routes, its tables, and whether a collector runs it.

A new feature is a folder under `backend/` (its service, models, settings block, `routes.py`, a
migration) and one `Feature` line below. The runtime builds and starts the services in this
order (and stops them in reverse), `backend.settings` composes the settings blocks into the one
`Settings`, the API mounts the routers, `backend.models` imports the tables for Alembic.

Importing this module is cheap on purpose: a builder imports its service when it is called and
settings blocks, routers and tables are named by module, so Alembic (through `backend.models`)
and a collector load the tables and the fleet, not the whole API.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from backend.core.service import Service, ServiceContext

if TYPE_CHECKING:
    from fastapi import APIRouter

    from backend.core.settings import CoreSettings
    from backend.fleet.shard import FleetRole

S = TypeVar("S", bound=Service)


@dataclass
class Building:
    """What a feature's builder may use: the shared context, the fleet's role in this process,
    and the services built before it (a service reads another only after start)."""

    context: ServiceContext
    fleet_role: FleetRole
    built: list[Service] = field(default_factory=list)

    def by_name(self) -> dict[str, Service]:
        return {service.name: service for service in self.built}

    def one(self, kind: type[S]) -> S:
        return next(service for service in self.built if isinstance(service, kind))


@dataclass(frozen=True)
class Feature:
    name: str
    build: Callable[[Building], Service] | None = None
    # "module:Class", the feature's block of settings (a `CoreSettings`); the module may name
    # the original deployment's environment variables for its keys in `LEGACY_ENV`.
    settings: str | None = None
    routes: tuple[str, ...] = ()  # modules with a `router`
    tables: tuple[str, ...] = ()  # modules defining its tables
    in_collector: bool = False  # a collector process polls the fleet and what it reads

    def routers(self) -> list[APIRouter]:
        return [importlib.import_module(module).router for module in self.routes]

    def settings_block(self) -> SettingsBlock | None:
        if self.settings is None:
            return None
        module_name, _, class_name = self.settings.partition(":")
        module = importlib.import_module(module_name)
        return SettingsBlock(getattr(module, class_name), getattr(module, "LEGACY_ENV", {}))


@dataclass(frozen=True)
class SettingsBlock:
    """A feature's settings class and the legacy environment names of its keys."""

    cls: type[CoreSettings]
    legacy_env: Mapping[str, str]


# --- builders: each imports its service only when a backend is built ----------------------------


def _auth(b: Building) -> Service:
    from backend.auth.access import ApiAccessService

    return ApiAccessService(b.context)


def _market(b: Building) -> Service:
    from backend.market.service import MarketService

    return MarketService(b.context)


def _chain(b: Building) -> Service:
    from backend.chain.service import ChainService
    from backend.market.service import MarketService

    return ChainService(b.context, b.one(MarketService))


def _fleet(b: Building) -> Service:
    from backend.fleet.service import FleetService

    return FleetService(b.context, b.by_name, role=b.fleet_role)


def _notary(b: Building) -> Service:
    from backend.notary.service import NotaryService

    return NotaryService(b.context, b.by_name)


def _wallet(b: Building) -> Service:
    from backend.wallet.service import WalletService

    return WalletService(b.context)


def _issuer(b: Building) -> Service:
    from backend.issuer.service import IssuerService

    return IssuerService(b.context)


def _webhooks(b: Building) -> Service:
    from backend.notify.service import WebhookService

    return WebhookService(b.context)


def _exports(b: Building) -> Service:
    from backend.exports.service import ExportService

    return ExportService(b.context)


FEATURES: tuple[Feature, ...] = (
    Feature(
        "auth",
        build=_auth,
        settings="backend.auth.settings:AuthSettings",
        routes=("backend.api.routes.keys", "backend.api.routes.partners"),
        tables=("backend.auth.models",),
    ),
    Feature(
        "market",
        build=_market,
        settings="backend.market.settings:MarketSettings",
        routes=("backend.market.routes",),
        tables=("backend.providers.samples",),
        in_collector=True,
    ),
    Feature(
        "chain",
        build=_chain,
        settings="backend.chain.settings:ChainSettings",
        routes=("backend.chain.routes",),
        in_collector=True,
    ),
    Feature(
        "fleet",
        build=_fleet,
        settings="backend.fleet.settings:FleetSettings",
        routes=("backend.fleet.routes",),
        tables=("backend.fleet.models", "backend.fleet.shard"),
        in_collector=True,
    ),
    Feature(
        "notary",
        build=_notary,
        settings="backend.notary.settings:NotarySettings",
        routes=("backend.notary.routes",),
        tables=("backend.notary.models",),
    ),
    Feature(
        "wallet",
        build=_wallet,
        settings="backend.wallet.settings:WalletSettings",
        routes=("backend.wallet.routes",),
        tables=("backend.wallet.models",),
    ),
    Feature(
        "issuer",
        build=_issuer,
        settings="backend.issuer.settings:IssuerSettings",
        routes=("backend.issuer.routes",),
        tables=("backend.issuer.models",),
    ),
    Feature(
        "webhooks",
        build=_webhooks,
        settings="backend.notify.settings:NotifySettings",
        routes=("backend.api.routes.webhooks",),
        tables=("backend.notify.models",),
    ),
    Feature(
        "exports",
        build=_exports,
        routes=("backend.exports.routes",),
        tables=("backend.exports.models",),
    ),
    Feature("analytics", routes=("backend.analytics.routes",)),
)


def build_services(
    context: ServiceContext,
    *,
    fleet_role: FleetRole | None = None,
    collector: bool = False,
    features: tuple[Feature, ...] = FEATURES,
) -> list[Service]:
    """Every service this process runs, in start order (stopped in reverse).

    A collector runs the fleet (its shard) and what the fleet reads (market and chain for the
    hashprice); everything else belongs to the API instances. With several API instances on
    one database the issuer and the notary scheduler run in one of them at a time (leases)."""
    from backend.fleet.shard import FleetRole

    building = Building(context, fleet_role or FleetRole())
    for feature in features:
        if feature.build is not None and (feature.in_collector or not collector):
            building.built.append(feature.build(building))
    return building.built


def settings_blocks(features: tuple[Feature, ...] = FEATURES) -> list[SettingsBlock]:
    """Each feature's settings block, in registry order (what `backend.settings` composes)."""
    return [block for feature in features if (block := feature.settings_block()) is not None]


def table_modules(features: tuple[Feature, ...] = FEATURES) -> list[str]:
    return [module for feature in features for module in feature.tables]
