"""The SDK's parts: `transport` (the HTTP client, typed errors, untrusted-input decoding,
rate limits), `stream` (the `/ws` events), and one module of calls per API area. The public
entry point is `hashinsight_tui.client.HashInsightClient`, which composes them."""
