"""The HTTP and WebSocket API: the only way consoles and partners reach the backend."""
