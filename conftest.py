"""Loads tests/support/fixtures.py for every suite; unit_tests/conftest.py makes two of its fixtures automatic there."""

pytest_plugins = ["tests.support.fixtures"]
