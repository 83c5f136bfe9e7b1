"""Market data: BTC price from a fallback chain of providers, and the multi-exchange collector."""
