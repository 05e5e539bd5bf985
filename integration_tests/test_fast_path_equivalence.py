"""The per-record fast path gives the same records and state as the CDK's generic path.

Each stream is read from the emulator twice: by SourceContacts (ContactsComponentFactory: DeferredObserveCursor,
PlainRecordSelector, FieldPathExtractor, DecodeOnceJsonDecoder) and by the CDK's own ConcurrentDeclarativeSource on the
same manifest with the CDK's components in their place (DpathExtractor, the default JsonDecoder, fixed Cometly list
windows), and the two outputs are compared. The last sync window is pinned (sync_started_at) so that both reads ask for
the same windows: cometly_contacts' adaptive windows hold 80 days of data in one window, like the fixed 365-day ones.
"""

import copy
import json
from pathlib import Path
from typing import Any, List, Optional

import pytest
import yaml

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read

from emulator import Emulator
from tests.support.builders import (
    catalog,
    emitted_states,
    emulator_cometly_config,
    emulator_v2_config,
    emulator_v3_config,
    run_read,
    stream_state,
)
from tests.support.fixtures import SleepRecorder

MANIFEST = Path(__file__).resolve().parent.parent / "source_contacts" / "manifest.yaml"

pytestmark = pytest.mark.usefixtures("sync_started_at")


def generic_manifest() -> dict:
    """The manifest with the CDK's generic components where it declares the fast path's."""
    manifest = yaml.safe_load(MANIFEST.read_text())
    definitions = manifest["definitions"]
    definitions["page_records"]["extractor"] = {"type": "DpathExtractor", "field_path": ["{{ parameters['records_path'] }}"]}
    del definitions["decode_once"]
    for retriever in (definitions["cc_v3_stream"]["retriever"], definitions["cc_v2_list_contacts"]["retriever"],
                      definitions["cometly_contacts"]["retriever"]):
        del retriever["decoder"]
    windows = definitions["cometly_contacts"]["incremental_sync"]
    del windows["$parameters"]
    windows["step"] = "P{{ config['cometly'].get('window_days') or 30 }}D"
    return manifest


def generic_read(config: dict, stream: str, sync_mode: SyncMode, state: Optional[list]) -> EntrypointOutput:
    configured = catalog(stream, sync_mode)
    source = ConcurrentDeclarativeSource(catalog=configured, config=copy.deepcopy(config), state=state, source_config=generic_manifest())
    return read(source, copy.deepcopy(config), configured, state)


def states(output: EntrypointOutput) -> List[dict]:
    """The emitted states; a per-partition state's lookback_window (how long the sync took) left out."""
    return [{key: value for key, value in state.items() if key != "lookback_window"} for state in emitted_states(output)]


def records(output: EntrypointOutput, ordered: bool) -> List[Any]:
    data = [m.record.data for m in output.records]
    return data if ordered else sorted(data, key=lambda record: json.dumps(record, sort_keys=True))


CASES = [
    # stream, config, sync mode, incoming state, whether the read is one ordered partition
    ("cometly_contacts_export", lambda emu: emulator_cometly_config(emu, export_window_days=365), SyncMode.incremental, None, True),
    ("cometly_contacts_export", lambda emu: emulator_cometly_config(emu, export_window_days=30), SyncMode.incremental,
     {"created_at": "2024-02-10T00:00:00Z"}, False),
    ("cometly_contacts", lambda emu: emulator_cometly_config(emu, window_days=365), SyncMode.incremental, None, True),
    ("cometly_contacts", lambda emu: emulator_cometly_config(emu, window_days=365, include_comet_tokens=True),
     SyncMode.full_refresh, {"created_at": "2024-02-10T00:00:00Z"}, True),
    ("cc_contacts_export", lambda emu: emulator_v3_config(emu, access_token=True), SyncMode.incremental,
     {"updated_at": "2024-02-01T00:00:00.000Z"}, True),
    ("cc_contacts", lambda emu: emulator_v3_config(emu, access_token=True), SyncMode.incremental,
     {"updated_at": "2024-02-01T00:00:00Z"}, False),  # 30-day windows, read concurrently
    ("cc_contact_lists", lambda emu: emulator_v3_config(emu, access_token=True), SyncMode.incremental,
     {"updated_at": "2024-01-01T00:00:00Z"}, True),
    ("cc_v2_list_contacts", lambda emu: emulator_v2_config(emu), SyncMode.incremental, None, False),
    ("cc_v2_contacts_export", lambda emu: emulator_v2_config(emu), SyncMode.full_refresh, None, False),
]


@pytest.mark.parametrize("stream, make_config, sync_mode, incoming, ordered", CASES, ids=[f"{case[0]}-{i}" for i, case in enumerate(CASES)])
def test_the_fast_path_emits_the_records_and_state_of_the_generic_path(
    emulator: Emulator, sleeps: SleepRecorder, stream: str, make_config: Any, sync_mode: SyncMode, incoming: Optional[dict], ordered: bool
) -> None:
    config = make_config(emulator)
    state = stream_state(stream, incoming) if incoming else None

    generic = generic_read(config, stream, sync_mode, state)
    fast = run_read(config, stream, sync_mode, state)

    assert generic.errors == [] and fast.errors == []
    assert len(fast.records) > 0
    assert records(fast, ordered) == records(generic, ordered)
    if ordered:
        assert states(fast) == states(generic)
    else:  # partitions read by two threads close in either order; the state they end at is the same
        assert states(fast)[-1] == states(generic)[-1]
        assert len(states(fast)) == len(states(generic))
