"""Every stream of the manifest is in the per-stream tables: its full-refresh ground truth here, and, when it is
incremental, its crash-and-resume scenario. Adding a stream without them fails this test, so the README's checklist is
enforced rather than remembered."""

from typing import Any, Callable, Dict, Tuple

import pytest

from emulator import Emulator
from integration_tests import test_cc_v3_engagement_streams as engagement
from integration_tests import test_cometly_events_streams as cometly_events
from integration_tests.test_crash_and_resume import SCENARIOS
from source_contacts import SourceContacts
from tests.support.builders import emulator_cometly_config, emulator_v2_config, emulator_v3_config, run_read

V3 = lambda emu: emulator_v3_config(emu, access_token=True)  # noqa: E731


# stream: (config, primary key of a record, the keys a full refresh must emit, as a set)
GROUND_TRUTH: Dict[str, Tuple[Callable[[Emulator], dict], Callable[[dict], Any], Callable[[Emulator], set]]] = {
    **{stream: (config, key, truth) for stream, (config, key, truth, _) in SCENARIOS.items()},
    "cc_email_campaign_summaries": (V3, lambda r: r["campaign_id"], lambda emu: {s["campaign_id"] for s in emu.data.cc_v3_campaign_summaries}),
    "cc_v2_contacts_export": (emulator_v2_config, lambda r: (r["list_id"], r["email"]),
                              lambda emu: {(lst["id"], c["email_addresses"][0]["email_address"]) for lst in emu.data.cc_v2_lists
                                           for c in emu.data.v2_list_contacts(lst["id"])}),
}


def every_stream() -> Dict[str, bool]:
    """Every stream the manifest declares (every provider configured): name -> whether it is incremental."""
    with Emulator() as emu:
        config = {**emulator_v3_config(emu), **emulator_v2_config(emu), **emulator_cometly_config(emu)}
        catalog = SourceContacts(config=config).discover(None, config)  # type: ignore[arg-type]
    return {s.name: "incremental" in [m.value for m in s.supported_sync_modes] for s in catalog.streams}


def test_every_stream_is_in_the_ground_truth_table_and_every_incremental_one_in_crash_and_resume() -> None:
    streams = every_stream()
    # The engagement and Cometly events streams run their tables in their own modules (a small account, a pinned sync
    # start, a scaled api_budget).
    assert sorted(set(streams) - set(GROUND_TRUTH) - set(engagement.GROUND_TRUTH) - set(cometly_events.GROUND_TRUTH)) == []
    crash = set(SCENARIOS) | set(engagement.CRASH_SCENARIOS) | set(cometly_events.CRASH_SCENARIOS)
    assert sorted(name for name, incremental in streams.items() if incremental and name not in crash) == []


@pytest.mark.parametrize("stream", sorted(GROUND_TRUTH))
def test_a_full_refresh_emits_exactly_the_ground_truth(emulator: Emulator, stream: str) -> None:
    config_for, key, truth = GROUND_TRUTH[stream]
    output = run_read(config_for(emulator), stream)
    assert output.errors == []
    assert {key(r.record.data) for r in output.records} == truth(emulator)
