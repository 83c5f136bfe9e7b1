"""HashInsight backend: one asyncio process owning pollers, issuer, database and API."""

__version__ = "0.1.0"
