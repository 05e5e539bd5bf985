"""pytest fixtures for every suite (loaded by the root conftest.py): the emulator, a pinned sync start, no real sleeps,
a port that refuses connections, the CDK's component schema read and each manifest's parsing, validation and
pre-processing done once."""

import os
import pickle
import socket
import threading
import time
from datetime import timezone
from typing import Any, Dict, Iterator, List, Mapping
from unittest.mock import patch

import orjson
import pyrate_limiter.clocks
import pytest

from airbyte_cdk.sources.declarative import concurrent_declarative_source
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource
from airbyte_cdk.sources.streams.concurrent.state_converters.datetime_stream_state_converter import DateTimeStreamStateConverter
from airbyte_cdk.utils.datetime_helpers import AirbyteDateTime

from emulator import Emulator
from source_contacts.components import http_handling

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
    monkeypatch.setattr(http_handling, "monotonic", recorder.clock)
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


@pytest.fixture(scope="session")
def declarative_component_schema() -> dict:
    """The CDK's declarative component schema, read from its YAML once per test session."""
    return concurrent_declarative_source.get_declarative_component_schema()


def _copy(value: Any) -> Any:
    """A deep copy of plain data, several times faster than copy.deepcopy."""
    return pickle.loads(pickle.dumps(value))


@pytest.fixture(scope="session")
def manifest_work_done() -> Dict[str, Dict[bytes, Any]]:
    """What the CDK made of each manifest in this session: its YAML parsed, its validation and pre-processing."""
    return {"parsed": {}, "validated": {}, "pre_processed": {}}


@pytest.fixture
def manifest_prepared_once(
    monkeypatch: pytest.MonkeyPatch, declarative_component_schema: dict, manifest_work_done: Dict[str, Dict[bytes, Any]]
) -> None:
    """Sources built in this test reuse the session's component schema, and the CDK's work on a manifest it has seen.

    For every source it builds, the CDK parses its component schema YAML (over 4,000 lines) and the manifest YAML,
    validates the manifest against the schema and resolves its references: about 0.5 s of the 0.7 s a
    SourceContacts takes to build, the same result each time. The first source built with a given manifest goes
    through all of it, so an invalid manifest still fails every test that builds it; later ones get copies.
    """
    parsed, validated, pre_processed = (manifest_work_done[kind] for kind in ("parsed", "validated", "pre_processed"))
    monkeypatch.setattr(concurrent_declarative_source, "get_declarative_component_schema", lambda: declarative_component_schema)
    parse, validate, pre_process = (
        YamlDeclarativeSource._read_and_parse_yaml_file, concurrent_declarative_source.validate_manifest,
        ConcurrentDeclarativeSource._pre_process_manifest,
    )

    def key(value: Any) -> bytes:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)

    def parse_once(source: YamlDeclarativeSource, path: str) -> Any:
        where = key([os.getcwd(), type(source).__module__, path])
        if where not in parsed:
            parsed[where] = parse(source, path)
        return _copy(parsed[where])

    def validate_once(manifest: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
        seen = key(manifest)
        if seen not in validated:
            validate(manifest, schema)
            validated[seen] = True

    def pre_process_once(source: ConcurrentDeclarativeSource, manifest: Dict[str, Any]) -> Dict[str, Any]:
        seen = key(manifest)
        if seen not in pre_processed:
            pre_processed[seen] = pre_process(source, _copy(manifest))
        return _copy(pre_processed[seen])

    monkeypatch.setattr(YamlDeclarativeSource, "_read_and_parse_yaml_file", parse_once)
    monkeypatch.setattr(concurrent_declarative_source, "validate_manifest", validate_once)
    monkeypatch.setattr(ConcurrentDeclarativeSource, "_pre_process_manifest", pre_process_once)
