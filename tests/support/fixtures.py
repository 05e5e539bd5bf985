"""pytest fixtures for every suite (loaded by the root conftest.py): the emulator, a pinned sync start, no real sleeps,
a port that refuses connections."""

import socket
import threading
import time
from datetime import timezone
from typing import Iterator, List
from unittest.mock import patch

import pyrate_limiter.clocks
import pytest

from airbyte_cdk.sources.streams.concurrent.state_converters.datetime_stream_state_converter import DateTimeStreamStateConverter
from airbyte_cdk.utils.datetime_helpers import AirbyteDateTime

from emulator import Emulator
from source_contacts.components import guarded_credentials, unreachable_hosts

SYNC_STARTED_AT = AirbyteDateTime(2024, 3, 20, 12, 0, 0, tzinfo=timezone.utc)

_real_sleep, _real_time = time.sleep, time.time


class SleepRecorder:
    """Stands in for time.sleep: returns at once and keeps every wait asked for, in order, in `waits`."""

    def __init__(self) -> None:
        self.waits: List[float] = []
        self._slept = 0.0
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
            self._slept += seconds
        _real_sleep(0)  # still hand the GIL to other threads, as a sleep would

    def clock(self) -> float:
        """The wall clock moved on by every wait recorded so far, as if they had been slept."""
        return _real_time() + self._slept


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> SleepRecorder:
    """time.sleep returns at once (retry backoff, api_budget, export polling); the recorder keeps the waits asked for.

    The api_budget's rate limiter (pyrate_limiter) and the connector's own timekeeping (a paused endpoint, how long
    a host has been unreachable) read the recorder's clock, so a wait is over once asked for; without it the budget
    would retry in a busy loop until the real window passed.
    """
    recorder = SleepRecorder()
    monkeypatch.setattr(time, "sleep", recorder)
    monkeypatch.setattr(pyrate_limiter.clocks, "time", recorder.clock)
    monkeypatch.setattr(unreachable_hosts, "monotonic", recorder.clock)
    monkeypatch.setattr(guarded_credentials, "monotonic", recorder.clock)
    return recorder


@pytest.fixture
def sync_started_at() -> Iterator[AirbyteDateTime]:
    """Pins the moment the sync starts (where the last date window ends) to SYNC_STARTED_AT."""
    with patch.object(DateTimeStreamStateConverter, "get_end_provider", classmethod(lambda cls: lambda: SYNC_STARTED_AT)):
        yield SYNC_STARTED_AT


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh emulator per test on ephemeral ports: tests mutate its data and flip its fault switches."""
    with Emulator() as emu:
        yield emu


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
