"""Every table of every service, imported in one place so Alembic sees the whole schema."""

from backend.auth.models import ApiKeyRow
from backend.core.audit import AuditEntry
from backend.core.db import Base

__all__ = ["ApiKeyRow", "AuditEntry", "Base"]
