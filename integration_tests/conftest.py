"""Integration tests talk HTTP to the bundled emulator, started here on 127.0.0.1."""

from typing import Iterator

import pytest

from emulator import Emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh emulator per test: tests mutate data and flip fault switches."""
    with Emulator() as emu:
        yield emu
