"""Test support shared by the unit, integration and emulator tests."""
