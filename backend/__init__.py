"""HashInsight backend: one asyncio process that owns pollers, the issuer, the database and the API."""

__version__ = "0.1.0"
