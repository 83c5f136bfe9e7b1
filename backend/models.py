"""Every table, imported in one place so Alembic sees the whole schema: the core's own (audit
log, named leases) and those of each feature in `backend.registry`."""

import importlib

from backend.core.audit import AuditEntry
from backend.core.db import Base
from backend.core.lease import LeaseRow
from backend.registry import table_modules

for _module in table_modules():
    importlib.import_module(_module)

__all__ = ["AuditEntry", "Base", "LeaseRow"]
