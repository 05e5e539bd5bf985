"""Builders, fixtures and the console runner that unit and integration tests both import."""
