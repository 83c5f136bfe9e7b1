"""API keys, scopes and the checks every request goes through."""
