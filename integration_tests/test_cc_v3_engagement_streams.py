"""The twelve Constant Contact v3 engagement streams against the emulator: exact records on a full refresh, new events
and per-activity state on an incremental read, the calls a sync spends (one per report per activity in the window,
none for final and permalink activities, stats 10 ids a call), and instants whatever offset the API writes."""

import math
from datetime import datetime, timedelta, timezone
from typing import Callable, Dict, Iterator, List
from unittest.mock import patch

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.concurrent.state_converters.datetime_stream_state_converter import DateTimeStreamStateConverter
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.utils.datetime_helpers import AirbyteDateTime

from emulator import Emulator
from emulator.engagement_data import TRACKING_STREAMS
from source_contacts import SourceContacts
from tests.support.builders import emulator_v3_config, final_state, run_read, state_for_next_read

pytestmark = pytest.mark.usefixtures("sleeps")

# 30 campaigns: 24 sent primary_email/resend activities, the newest sent 2025-07-18, events until 2025-07-19.
SIZES = {"cc_v3_campaigns": 30, "cc_v3_contacts": 400}
# The incremental tests run as if the sync started here: with a 60-day window, the activities last sent after
# 2025-06-02 (four of them) are in their window, the others final.
SYNC_START = AirbyteDateTime(2025, 8, 1, tzinfo=timezone.utc)
WINDOW_DAYS = 60

PRIMARY_KEYS = {
    "cc_email_campaign_activities": ["campaign_activity_id"],
    "cc_email_send_history": ["campaign_activity_id", "send_id"],
    "cc_email_sends": ["campaign_activity_id", "contact_id"],
    "cc_email_opens": ["campaign_activity_id", "contact_id", "created_time"],
    "cc_email_unique_opens": ["campaign_activity_id", "contact_id"],
    "cc_email_clicks": ["campaign_activity_id", "contact_id", "url_id", "created_time"],
    "cc_email_bounces": ["campaign_activity_id", "contact_id", "created_time"],
    "cc_email_optouts": ["campaign_activity_id", "contact_id"],
    "cc_email_forwards": ["campaign_activity_id", "contact_id", "created_time"],
    "cc_email_did_not_opens": ["campaign_activity_id", "contact_id"],
    "cc_email_campaign_activity_stats": ["campaign_activity_id"],
    "cc_email_links": ["campaign_activity_id", "url_id"],
}
INCREMENTAL_TRACKING = [s for s in TRACKING_STREAMS if s != "cc_email_did_not_opens"]


def _truth_of(stream: str) -> Callable[[Emulator], List[dict]]:
    return lambda emu: emu.engagement_truth(stream)


# What a full refresh of each stream emits (every activity of the emulator was last sent after its start_date).
GROUND_TRUTH: Dict[str, Callable[[Emulator], List[dict]]] = {stream: _truth_of(stream) for stream in PRIMARY_KEYS}


def _key_of(stream: str) -> Callable[[dict], tuple]:
    return lambda record: tuple(record[field] for field in PRIMARY_KEYS[stream])


# Records after which the first runs are killed, for an emulator of SIZES (at the default sizes, 1,100 campaigns, a
# sync of one tracking stream spends about 1,300 calls: five minutes at 4 a second).
KILL_POINTS = {"cc_email_campaign_activities": [20], "cc_email_sends": [300, 1500], "cc_email_opens": [300, 1500],
               "cc_email_unique_opens": [300, 900], "cc_email_clicks": [100, 300], "cc_email_bounces": [30],
               "cc_email_optouts": [20], "cc_email_forwards": [20]}
# In the shape of test_crash_and_resume.SCENARIOS: (config, primary key of a record, ground truth, kill points).
CRASH_SCENARIOS = {
    stream: (
        lambda emu: emulator_v3_config(emu, access_token=True),
        _key_of(stream),
        (lambda emu, s=stream: {_key_of(s)(r) for r in emu.engagement_truth(s)}),
        kill_points,
    )
    for stream, kill_points in KILL_POINTS.items()
}


@pytest.fixture
def engagement() -> Iterator[Emulator]:
    """A small account (30 campaigns), so that every report of every activity is read in seconds."""
    with Emulator(sizes=SIZES) as emu:
        yield emu


@pytest.fixture
def at_sync_start() -> Iterator[AirbyteDateTime]:
    with patch.object(DateTimeStreamStateConverter, "get_end_provider", classmethod(lambda cls: lambda: SYNC_START)):
        yield SYNC_START


def by_key(stream: str, records: List[dict]) -> List[dict]:
    return sorted(records, key=lambda r: [str(value) for value in _key_of(stream)(r)])


def records_of(output) -> List[dict]:
    return [message.record.data for message in output.records]


def cursors(output) -> Dict[str, str]:
    """campaign_activity_id -> saved cursor, from the last state of a tracking stream."""
    return {s["partition"]["campaign_activity_id"]: s["cursor"]["created_time"] for s in final_state(output)["states"]}


def unmarked(states: Dict[str, str]) -> Dict[str, str]:
    """Cursors with the mark of an activity read without an event (one second after the cursor's start) taken off."""
    return {aid: "1970-01-01T00:00:00Z" if cursor == "1970-01-01T00:00:01Z" else cursor for aid, cursor in states.items()}


def in_window(emu: Emulator) -> List[str]:
    eng = emu.data.engagement
    return [aid for aid in eng.activities if eng.reportable(aid) and eng.last_sent(aid)
            and datetime.fromisoformat(eng.last_sent(aid)) + timedelta(days=WINDOW_DAYS) >= SYNC_START]


def report_calls(emu: Emulator, report: str) -> Dict[str, int]:
    """Calls per activity to one report (`opens`, `links`, ...)."""
    calls: Dict[str, int] = {}
    for request in emu.requests.matching("/v3/reports/email_reports/"):
        parts = request.path.split("/")
        if parts[-1] == report:
            calls[parts[4]] = calls.get(parts[4], 0) + 1
    return calls


@pytest.mark.parametrize("stream", list(PRIMARY_KEYS))
def test_full_refresh_emits_exactly_the_ground_truth(engagement: Emulator, stream: str) -> None:
    output = run_read(emulator_v3_config(engagement, access_token=True), stream)

    assert not output.errors
    assert by_key(stream, records_of(output)) == by_key(stream, GROUND_TRUTH[stream](engagement))


def test_no_permalink_gets_a_report_call_and_every_sent_activity_gets_one(engagement: Emulator) -> None:
    eng = engagement.data.engagement
    run_read(emulator_v3_config(engagement, access_token=True), "cc_email_links")

    called = set(report_calls(engagement, "links"))
    assert not {aid for aid in called if eng.activities[aid]["role"] == "permalink"}
    assert called == {aid for aid in eng.activities if eng.reportable(aid) and eng.last_sent(aid) and eng.visible(aid)}
    # The links nobody clicked come too (no_clicks=true).
    assert {r.query["no_clicks"] for r in engagement.requests.matching("/links")} == {"true"}


def test_stats_take_ten_activities_a_call(engagement: Emulator) -> None:
    output = run_read(emulator_v3_config(engagement, access_token=True), "cc_email_campaign_activity_stats")

    calls = engagement.requests.matching("/v3/reports/stats/email_campaign_activities/")
    ids = [request.path.rsplit("/", 1)[1].split(",") for request in calls]
    sent = {r["campaign_activity_id"] for r in engagement.engagement_truth("cc_email_send_history")}
    asked = [i for group in ids for i in group]
    assert len(calls) == math.ceil(len(asked) / 10) and all(len(group) <= 10 for group in ids)
    assert set(asked) <= sent and len(asked) == len(set(asked))
    # The guide's dotted keys (the emulator's default) come out underscored.
    assert all("." not in key for r in records_of(output) for key in r["stats"])


def test_parents_are_read_once_for_all_the_streams_of_a_sync(engagement: Emulator) -> None:
    config = emulator_v3_config(engagement, access_token=True)
    streams = ["cc_email_opens", "cc_email_clicks", "cc_email_links", "cc_email_send_history"]
    builder = CatalogBuilder()
    for stream in streams:
        builder.with_stream(stream, SyncMode.full_refresh)
    catalog = builder.build()

    output = read(SourceContacts(catalog=catalog, config=config), config, catalog)

    assert not output.errors
    parents = [r.path for r in engagement.requests.matching("/v3/emails")]
    assert len(parents) == len(set(parents))


@pytest.mark.usefixtures("at_sync_start")
@pytest.mark.parametrize("stream, report", [("cc_email_opens", "opens"), ("cc_email_clicks", "clicks")])
def test_new_events_are_read_with_those_on_the_saved_cursor_and_state_advances_per_activity(
    engagement: Emulator, stream: str, report: str
) -> None:
    config = emulator_v3_config(engagement, access_token=True, engagement_window_days=WINDOW_DAYS)
    first = run_read(config, stream, SyncMode.incremental)
    before = cursors(first)
    assert by_key(stream, records_of(first)) == by_key(stream, GROUND_TRUTH[stream](engagement))
    target = in_window(engagement)[0]

    added = engagement.add_engagement(target, opens=4, clicks=3, at=SYNC_START - timedelta(hours=1))[report]
    second = run_read(config, stream, SyncMode.incremental, state=state_for_next_read(first))

    # Each activity in the window is read again from its cursor (inclusive); the final ones not at all.
    boundary = [r for r in engagement.engagement_truth(stream, activity_ids=in_window(engagement))
                if r["created_time"][:19] == before[r["campaign_activity_id"]][:19]]
    expected = {_key_of(stream)(r): r for r in boundary + added}
    assert by_key(stream, records_of(second)) == by_key(stream, list(expected.values()))
    after = cursors(second)
    assert after[target] == (SYNC_START - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert {aid: c for aid, c in unmarked(after).items() if aid != target} == {aid: c for aid, c in before.items() if aid != target}


@pytest.mark.usefixtures("at_sync_start")
@pytest.mark.parametrize("stream", INCREMENTAL_TRACKING)
def test_nothing_new_costs_one_call_per_report_per_activity_in_the_window(engagement: Emulator, stream: str) -> None:
    config = emulator_v3_config(engagement, access_token=True, engagement_window_days=WINDOW_DAYS)
    first = run_read(config, stream, SyncMode.incremental)
    eng, report = engagement.data.engagement, TRACKING_STREAMS[stream]
    engagement.reset_log()

    second = run_read(config, stream, SyncMode.incremental, state=state_for_next_read(first))

    assert not second.errors
    assert report_calls(engagement, report) == {aid: 1 for aid in in_window(engagement) if eng.visible(aid)}
    assert unmarked(cursors(second)) == cursors(first)


def test_offsets_in_the_api_stamps_give_the_same_records_and_states(engagement: Emulator) -> None:
    config = emulator_v3_config(engagement, access_token=True)
    utc = run_read(config, "cc_email_opens", SyncMode.incremental)

    engagement.faults.stamp_offset("+05:30")
    shifted = run_read(config, "cc_email_opens", SyncMode.incremental)

    assert all(r["created_time"].endswith("Z") for r in records_of(shifted))
    assert by_key("cc_email_opens", records_of(shifted)) == by_key("cc_email_opens", records_of(utc))
    assert cursors(shifted) == cursors(utc)


def test_campaign_activities_reread_only_the_campaigns_changed_since_the_state(engagement: Emulator) -> None:
    config = emulator_v3_config(engagement, access_token=True)
    first = run_read(config, "cc_email_campaign_activities", SyncMode.incremental)
    live = [c for c in engagement.data.cc_v3_campaigns if c["current_status"] != "Removed"]
    touched = live[0]["campaign_id"]

    engagement.touch_v3_campaigns([touched])
    engagement.reset_log()
    second = run_read(config, "cc_email_campaign_activities", SyncMode.incremental, state=state_for_next_read(first))

    read_campaigns = {r.path.rsplit("/", 1)[1] for r in engagement.requests.matching("/v3/emails/") if "/activities/" not in r.path}
    assert touched in read_campaigns and len(read_campaigns) < len(live)
    touched_activities = {a for a in engagement.data.engagement.by_campaign[touched]}
    assert touched_activities <= {r["campaign_activity_id"] for r in records_of(second)}
    assert all(r["campaign_updated_at"].endswith("Z") for r in records_of(second))


# Each scenario is three syncs through the console script at 4 calls a second, most of it the parents: the streams
# whose state is per activity with a newest-first stop, and the activities' own cursor, are run here.
@pytest.mark.parametrize("stream", ["cc_email_campaign_activities", "cc_email_opens", "cc_email_clicks"])
def test_a_sync_killed_and_resumed_from_its_last_state_loses_no_record(tmp_path, stream: str) -> None:
    from integration_tests.test_crash_and_resume import run_until_killed

    config_for, key, truth_of, kill_points = CRASH_SCENARIOS[stream]
    with Emulator(sizes=SIZES) as emu:
        config, state, seen, attempts = config_for(emu), None, set(), []
        for kill_after in [*kill_points, None]:
            records, state, exit_code = run_until_killed(config, stream, state, tmp_path, kill_after)
            seen |= {key(record) for record in records}
            attempts.append(exit_code)
        assert attempts[-1] == 0
        assert seen == truth_of(emu)
