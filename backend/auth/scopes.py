"""Scopes a key may carry, and which of them allow changing things."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    READ = "read"
    STREAM = "stream"
    EXPORT = "export"
    FLEET_CONTROL = "fleet:control"
    ISSUER_APPROVE = "issuer:approve"
    ADMIN = "admin"


ALL_SCOPES: frozenset[str] = frozenset(s.value for s in Scope)
WRITE_SCOPES: frozenset[str] = frozenset({Scope.FLEET_CONTROL, Scope.ISSUER_APPROVE, Scope.ADMIN})
OPERATOR_SCOPES: tuple[str, ...] = tuple(s.value for s in Scope)
READ_ONLY_SCOPES: tuple[str, ...] = (Scope.READ, Scope.STREAM)


def parse_scopes(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Validate scope names; raise ValueError naming the unknown one."""
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    unknown = [s for s in items if s not in ALL_SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; known: {', '.join(sorted(ALL_SCOPES))}")
    return tuple(dict.fromkeys(items))
