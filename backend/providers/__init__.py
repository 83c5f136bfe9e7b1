"""Public Bitcoin data providers, shared by the market and the chain services.

The machinery both poll with (fallback chains, sanity guards, history caches, the providers' lease,
recorded samples, reading freshness) and the one provider answer both read (blockchain.info's
`/stats`). It imports only core; the market and the chain import it and never each other.
"""
