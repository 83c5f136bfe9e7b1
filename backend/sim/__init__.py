"""Simulators of external systems (miners, markets...) for development and tests."""
