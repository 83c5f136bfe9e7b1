"""HashInsight console: a Textual client of the HashInsight backend API."""

__version__ = "0.1.0"
