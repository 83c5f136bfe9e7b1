"""The backend's rooms, registered in one place: each feature's service, its API routes, its
tables, and whether a collector runs it.

A new feature is a folder under `backend/` (its service, models, settings block, routes under
`backend/api/routes/`, a migration) and one `Feature` line below; its settings block is also
named in `backend/settings.py`, where the composition stays spelled out so the type checker sees
every key. The runtime builds and starts the services in this order (and stops them in reverse),
the API mounts the routers, `backend.models` imports the tables for Alembic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from fastapi import APIRouter

from backend.api.routes import (
    analytics,
    exports,
    fleet,
    issuer,
    keys,
    market,
    network,
    notary,
    partners,
    wallet,
    webhooks,
)
from backend.auth.access import ApiAccessService
from backend.chain.service import ChainService
from backend.core.service import Service, ServiceContext
from backend.exports.service import ExportService
from backend.fleet.service import FleetService
from backend.fleet.shard import FleetRole
from backend.issuer.service import IssuerService
from backend.market.service import MarketService
from backend.notary.service import NotaryService
from backend.notify.service import WebhookService
from backend.wallet.service import WalletService

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
    routers: tuple[APIRouter, ...] = ()
    tables: tuple[str, ...] = ()  # modules defining its tables
    in_collector: bool = False  # a collector process polls the fleet and what it reads


FEATURES: tuple[Feature, ...] = (
    Feature(
        "auth",
        build=lambda b: ApiAccessService(b.context),
        routers=(keys.router, partners.router),
        tables=("backend.auth.models",),
    ),
    Feature(
        "market",
        build=lambda b: MarketService(b.context),
        routers=(market.router,),
        tables=("backend.providers.samples",),
        in_collector=True,
    ),
    Feature(
        "chain",
        build=lambda b: ChainService(b.context, b.one(MarketService)),
        routers=(network.router,),
        in_collector=True,
    ),
    Feature(
        "fleet",
        build=lambda b: FleetService(b.context, b.by_name, role=b.fleet_role),
        routers=(fleet.router,),
        tables=("backend.fleet.models", "backend.fleet.shard"),
        in_collector=True,
    ),
    Feature(
        "notary",
        build=lambda b: NotaryService(b.context, b.by_name),
        routers=(notary.router,),
        tables=("backend.notary.models",),
    ),
    Feature(
        "wallet",
        build=lambda b: WalletService(b.context),
        routers=(wallet.router,),
        tables=("backend.wallet.models",),
    ),
    Feature(
        "issuer",
        build=lambda b: IssuerService(b.context),
        routers=(issuer.router,),
        tables=("backend.issuer.models",),
    ),
    Feature(
        "webhooks",
        build=lambda b: WebhookService(b.context),
        routers=(webhooks.router,),
        tables=("backend.notify.models",),
    ),
    Feature(
        "exports",
        build=lambda b: ExportService(b.context),
        routers=(exports.router,),
        tables=("backend.exports.models",),
    ),
    Feature("analytics", routers=(analytics.router,)),
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
    building = Building(context, fleet_role or FleetRole())
    for feature in features:
        if feature.build is not None and (feature.in_collector or not collector):
            building.built.append(feature.build(building))
    return building.built


def routers(features: tuple[Feature, ...] = FEATURES) -> list[APIRouter]:
    return [router for feature in features for router in feature.routers]


def table_modules(features: tuple[Feature, ...] = FEATURES) -> list[str]:
    return [module for feature in features for module in feature.tables]
