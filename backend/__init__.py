"""HashInsight backend: one asyncio process that owns the pollers, the issuer, the DB and the API."""

__version__ = "0.1.0"
