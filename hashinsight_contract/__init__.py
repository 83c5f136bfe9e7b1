"""The wire contract: every shape the API sends or takes, defined once.

The backend's services and routes, the WebSocket events, the SDK and the console all use these
models. The package depends on pydantic and nothing else of ours, so any of them can import it.
"""
