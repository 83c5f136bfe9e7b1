"""Core plumbing shared by every service: settings, database, bus, cache, HTTP, secrets, clock."""
