"""cometly_events, cometly_events_export and cometly_companies against the emulator (space time zone
America/New_York, list bounds both exclusive): exact records across the DST days, day-by-day export state, attribution,
and a first export sync killed after day 12 and resumed."""

import json
import os
import shutil
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.concurrent.state_converters.datetime_stream_state_converter import DateTimeStreamStateConverter

import source_contacts
from emulator import Emulator
from integration_tests.test_crash_and_resume import run_until_killed
from tests.support.builders import emitted_states, emulator_cometly_config, final_state, run_read, state_for_next_read
from tests.support.fixtures import SleepRecorder

NEW_YORK = ZoneInfo("America/New_York")
ATTRIBUTION = {"model": "last_touch", "window_days": 30, "sources": ["facebook_ads", "google_ads"]}
TOUCHPOINT_FIELDS = ["ad_id", "ad_name", "adset_id", "adset_name", "campaign_id", "campaign_name", "account_id", "account_name"]


def local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=NEW_YORK).astimezone(timezone.utc)


def utc(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def local(value: datetime) -> str:
    return value.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M:%S")


def sync_starting_at(moment: datetime) -> Any:
    """Pins the moment the sync starts (where the last window ends)."""
    return patch.object(DateTimeStreamStateConverter, "get_end_provider", classmethod(lambda cls: lambda: moment))


def as_emitted(record: dict) -> dict:
    """A record as the connector's messages carry it (the CDK leaves null values out)."""
    return {key: value for key, value in record.items() if value is not None}


def records_by_id(output: Any) -> Dict[Any, dict]:
    """Each record once by id, after checking that its duplicates (allowed by the contract) are equal."""
    seen: Dict[Any, dict] = {}
    for message in output.records:
        data = message.record.data
        assert seen.setdefault(data["id"], data) == data
    return seen


def list_calls(emu: Emulator) -> list:
    """The GET /events calls (not the export polls under /events/exports)."""
    return [r for r in emu.requests.matching("/public-api/v1/events", method="GET") if r.path.endswith("/events")]


def config_from(emu: Emulator, start: datetime, **section: Any) -> dict:
    return {**emulator_cometly_config(emu, **section), "start_date": utc(start)}


# A range across both DST days of the data (2024-11-03: 25 hours; 2025-03-09: 23 hours) and the start of the history.
RANGE_START = local_midnight(date(2024, 11, 2))
RANGE_END = local_midnight(date(2025, 7, 5))


def events_truth(emu: Emulator, start: datetime = RANGE_START, end: datetime = RANGE_END, **options: Any) -> List[dict]:
    """Every event from `start` to `end` (both inclusive, whatever the API's bounds)."""
    return emu.cometly_events_truth(local(start), local(end), start_inclusive=True, end_inclusive=True, **options)


def export_days_truth(emu: Emulator, days: List[date], **options: Any) -> List[dict]:
    return [record for day in days for record in emu.cometly_events_export_truth(day.isoformat(), **options)]


def days_between(first: date, last: date) -> List[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def test_events_full_read_returns_exactly_the_ground_truth_across_dst_days_with_exclusive_bounds(emulator: Emulator) -> None:
    with sync_starting_at(RANGE_END):
        output = run_read(config_from(emulator, RANGE_START, events_window_days=1), "cometly_events")

    assert not output.errors
    truth = events_truth(emulator)
    assert records_by_id(output) == {r["id"]: as_emitted(r) for r in truth}
    # The edges are there: events on both DST days and at exactly a local midnight.
    times = {r["event_time_utc"] for r in truth}
    assert {"2025-03-09T06:59:59Z", "2025-03-09T07:00:00Z", "2024-11-03T05:30:00Z", "2024-11-03T06:30:00Z"} <= times
    assert {utc(local_midnight(date(2024, 11, 3))), utc(local_midnight(date(2025, 3, 9)))} & times
    calls = list_calls(emulator)
    assert all(r.query["per_page"] == "4000" for r in calls)
    assert all(r.query_all["fields[]"] == ["id", "profile_id", "company_id", "space_id", "event_name", "configured_name", "amount",
                                           "is_upsell", "event_time_utc", "order_id", "order_name", "event_url"] for r in calls)
    assert all("sources[]" not in r.query_all and "attribution_model" not in r.query for r in calls)
    # Windows overlap by one second at each end (bounds of undocumented inclusiveness): no event falls between two.
    windows = sorted({(r.query["start_date"], r.query["end_date"]) for r in calls if "cursor" not in r.query})
    to_utc = emulator.cometly_events.data.to_ts
    assert to_utc(windows[0][0]) == RANGE_START.timestamp() - 1
    for (_, end), (start, _) in zip(windows, windows[1:]):
        assert to_utc(start) < to_utc(end)


def test_events_incremental_reads_the_new_events_and_the_saved_second(emulator: Emulator) -> None:
    config = config_from(emulator, RANGE_START)
    with sync_starting_at(RANGE_END):
        first = run_read(config, "cometly_events", SyncMode.incremental)
    newest = events_truth(emulator)[-1]["event_time_utc"]
    assert final_state(first) == {"event_time_utc": newest}

    later = RANGE_END + timedelta(days=2)
    added = emulator.add_cometly_events(3, at=RANGE_END + timedelta(days=1))
    with sync_starting_at(later):
        second = run_read(config, "cometly_events", SyncMode.incremental, state=state_for_next_read(first))

    expected = events_truth(emulator, datetime.fromisoformat(newest.replace("Z", "+00:00")), later)
    assert records_by_id(second) == {r["id"]: as_emitted(r) for r in expected}
    assert {r["id"] for r in added} <= set(records_by_id(second))
    assert final_state(second) == {"event_time_utc": expected[-1]["event_time_utc"]}


def test_attribution_is_sent_on_every_events_request_and_touchpoints_come_through(emulator: Emulator, sleeps: SleepRecorder) -> None:
    start, end = local_midnight(date(2025, 3, 8)), local_midnight(date(2025, 3, 11))
    config = config_from(emulator, start, attribution=ATTRIBUTION)
    with sync_starting_at(end):
        listed = run_read(config, "cometly_events")
        exported = run_read(config, "cometly_events_export")

    truth = events_truth(emulator, start, end, attribution=ATTRIBUTION)
    assert records_by_id(listed) == {r["id"]: as_emitted(r) for r in truth}
    days = days_between(date(2025, 3, 8), date(2025, 3, 10))
    assert records_by_id(exported) == {r["id"]: as_emitted(r) for r in export_days_truth(emulator, days, attribution=ATTRIBUTION)}
    assert any(r["ad_id"] for r in truth), "some events have a touchpoint under this attribution"
    assert any(set(TOUCHPOINT_FIELDS) <= set(m.record.data) for m in listed.records)
    for r in list_calls(emulator):
        assert r.query_all["sources[]"] == ATTRIBUTION["sources"]
        assert (r.query["attribution_model"], r.query["attribution_window"]) == ("last_touch", "30")
        assert r.query_all["fields[]"][-8:] == TOUCHPOINT_FIELDS
    for r in emulator.requests.matching("/events/exports", method="POST"):
        body = json.loads(r.body)
        assert (body["sources"], body["attribution_model"], body["attribution_window"]) == (ATTRIBUTION["sources"], "last_touch", 30)
        assert body["fields"][-8:] == TOUCHPOINT_FIELDS


def test_more_than_ten_event_names_go_in_groups_to_the_list_and_are_filtered_from_whole_day_exports(emulator: Emulator, sleeps: SleepRecorder) -> None:
    names = ["view_content", "add_to_cart", "initiate_checkout", "lead_generated", "purchase", "sign_up", "contact",
             "schedule", "subscribe", "start_trial", "custom_event_1", "custom_event_7"]
    start, end = local_midnight(date(2025, 7, 2)), local_midnight(date(2025, 7, 5))
    config = config_from(emulator, start, event_names=names)
    with sync_starting_at(end):
        listed = run_read(config, "cometly_events")
        exported = run_read(config, "cometly_events_export")

    assert records_by_id(listed) == {r["id"]: as_emitted(r) for r in events_truth(emulator, start, end, event_names=names)}
    groups = {tuple(r.query_all["event_names[]"]) for r in list_calls(emulator)}
    assert groups == {tuple(names[:10]), tuple(names[10:])}
    days = days_between(date(2025, 7, 2), date(2025, 7, 4))
    assert records_by_id(exported) == {r["id"]: as_emitted(r) for r in export_days_truth(emulator, days, event_names=names)}
    bodies = [json.loads(r.body) for r in emulator.requests.matching("/events/exports", method="POST")]
    assert sorted(b["date"] for b in bodies) == [d.isoformat() for d in days] and all("event_names" not in b for b in bodies)


def test_up_to_ten_event_names_are_sent_to_both_streams(emulator: Emulator, sleeps: SleepRecorder) -> None:
    names = ["purchase", "custom_event_1"]
    start, end = local_midnight(date(2025, 7, 2)), local_midnight(date(2025, 7, 4))
    config = config_from(emulator, start, event_names=names)
    with sync_starting_at(end):
        listed = run_read(config, "cometly_events")
        exported = run_read(config, "cometly_events_export")

    assert records_by_id(listed) == {r["id"]: as_emitted(r) for r in events_truth(emulator, start, end, event_names=names)}
    assert all(r.query_all["event_names[]"] == names for r in list_calls(emulator))
    days = [date(2025, 7, 2), date(2025, 7, 3)]
    assert records_by_id(exported) == {r["id"]: as_emitted(r) for r in export_days_truth(emulator, days, event_names=names)}
    assert all(json.loads(r.body)["event_names"] == names for r in emulator.requests.matching("/events/exports", method="POST"))


def test_export_one_job_per_local_day_across_dst_days_and_state_day_by_day_in_order(emulator: Emulator, sleeps: SleepRecorder) -> None:
    first_day, last_day = date(2024, 11, 1), date(2024, 11, 5)
    start = local_midnight(first_day) + timedelta(hours=5)  # a start_date within a day: that day is exported from it
    end = local_midnight(last_day + timedelta(days=1)) + timedelta(hours=3)  # the day it falls in is not over: not exported
    with sync_starting_at(end):
        output = run_read(config_from(emulator, start), "cometly_events_export", SyncMode.incremental)

    assert not output.errors
    days = days_between(first_day, last_day)
    truth = [r for r in export_days_truth(emulator, days) if r["event_time_utc"] >= utc(start)]
    assert records_by_id(output) == {r["id"]: as_emitted(r) for r in truth}
    bodies = [json.loads(r.body) for r in emulator.requests.matching("/events/exports", method="POST")]
    assert sorted(b["date"] for b in bodies) == [d.isoformat() for d in days]  # once each, the 25-hour day included
    # State moves forward only, to the newest event of each finished day, and ends at the newest of the last day.
    states = [s["event_time_utc"] for s in emitted_states(output)]
    assert states == sorted(states)
    newest_of_day = {max([r["event_time_utc"] for r in export_days_truth(emulator, [d])], default=None) for d in days}
    assert set(states) - {utc(start)} <= newest_of_day
    assert states[-1] == truth[-1]["event_time_utc"]


def test_export_incremental_does_not_export_a_finished_day_again(emulator: Emulator, sleeps: SleepRecorder) -> None:
    start = local_midnight(date(2025, 3, 7))
    config = config_from(emulator, start)
    with sync_starting_at(local_midnight(date(2025, 3, 10))):
        first = run_read(config, "cometly_events_export", SyncMode.incremental)
    with sync_starting_at(local_midnight(date(2025, 3, 12))):
        second = run_read(config, "cometly_events_export", SyncMode.incremental, state=state_for_next_read(first))

    dates = Counter(json.loads(r.body)["date"] for r in emulator.requests.matching("/events/exports", method="POST"))
    assert dates == Counter({"2025-03-07": 1, "2025-03-08": 1, "2025-03-09": 1, "2025-03-10": 1, "2025-03-11": 1})
    days = days_between(date(2025, 3, 10), date(2025, 3, 11))
    assert records_by_id(second) == {r["id"]: as_emitted(r) for r in export_days_truth(emulator, days)}


def test_export_creates_a_failed_day_again_and_asks_a_fresh_link_for_an_expired_one(emulator: Emulator, sleeps: SleepRecorder) -> None:
    emulator.faults.fail_next_jobs("cometly_events", 1)
    emulator.faults.expire_download_urls(1)
    start = local_midnight(date(2025, 3, 8))
    with sync_starting_at(local_midnight(date(2025, 3, 10))):
        output = run_read(config_from(emulator, start), "cometly_events_export", SyncMode.incremental)

    assert not output.errors
    days = [date(2025, 3, 8), date(2025, 3, 9)]
    assert records_by_id(output) == {r["id"]: as_emitted(r) for r in export_days_truth(emulator, days)}
    dates = Counter(json.loads(r.body)["date"] for r in emulator.requests.matching("/events/exports", method="POST"))
    assert sorted(dates.values()) == [1, 2]  # the day whose job failed was created again, once


def test_a_truncated_export_file_fails_the_stream_and_keeps_the_state_before_its_day(emulator: Emulator, sleeps: SleepRecorder) -> None:
    emulator.faults.truncate_next_files(3)  # every attempt at the one day
    start = local_midnight(date(2025, 3, 9))
    with sync_starting_at(local_midnight(date(2025, 3, 10))):
        output = run_read(config_from(emulator, start), "cometly_events_export", SyncMode.incremental, expecting_exception=True)

    assert output.errors
    assert all(s["event_time_utc"] == utc(start) for s in emitted_states(output))


def test_companies_full_and_incremental_reads_return_exactly_the_ground_truth(emulator: Emulator) -> None:
    config = config_from(emulator, RANGE_START, window_days=7)
    with sync_starting_at(RANGE_END):
        first = run_read(config, "cometly_companies", SyncMode.incremental)
    truth = emulator.cometly_companies_truth(local(RANGE_START), local(RANGE_END))
    assert records_by_id(first) == {c["id"]: c for c in truth}
    calls = emulator.requests.matching("/public-api/v1/companies")
    assert all(r.query["per_page"] == "5000" for r in calls)
    # Documented inclusive bounds: windows tile with no overlap, each one second after the previous.
    windows = sorted({(r.query["start_date"], r.query["end_date"]) for r in calls if "cursor" not in r.query})
    to_ts = emulator.cometly_events.data.to_ts
    assert all(to_ts(start) - to_ts(end) == 1 for (_, end), (start, _) in zip(windows, windows[1:]))

    added = emulator.add_cometly_companies(2, at=RANGE_END + timedelta(hours=1))
    with sync_starting_at(RANGE_END + timedelta(days=1)):
        second = run_read(config, "cometly_companies", SyncMode.incremental, state=state_for_next_read(first))
    newest = datetime.fromisoformat(truth[-1]["created_at"].replace("Z", "+00:00"))
    expected = emulator.cometly_companies_truth(local(newest), local(RANGE_END + timedelta(days=1)))
    assert records_by_id(second) == {c["id"]: c for c in expected}
    assert {c["id"] for c in added} <= set(records_by_id(second))


# ---------------------------------------------------------------- a killed first export sync of 30 days

CRASH_DAYS = 30


def crash_days() -> List[date]:
    """The 30 finished local days before today, each given two events (so that every day moves the state)."""
    today = datetime.now(NEW_YORK).date()
    return [today - timedelta(days=CRASH_DAYS - n) for n in range(CRASH_DAYS)]


def crash_config(emu: Emulator) -> dict:
    days = crash_days()
    for day in days:
        emu.add_cometly_events(2, at=local_midnight(day) + timedelta(hours=12))
    return config_from(emu, local_midnight(days[0]))


def crash_list_config(emu: Emulator) -> dict:
    config = crash_config(emu)
    return {**config, "cometly": {**config["cometly"], "events_window_days": 1}}


def fast_budget(folder: Path) -> dict:
    """The environment of a console script whose api_budget counts per second what the API counts per minute: a copy of
    the package with that manifest comes first on PYTHONPATH (30 jobs at 5 a minute would take 6 minutes)."""
    copy = folder / "fast_budget"
    shutil.copytree(Path(source_contacts.__file__).parent, copy / "source_contacts", ignore=shutil.ignore_patterns("__pycache__"))
    manifest = copy / "source_contacts" / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("interval: PT1M", "interval: PT1S"))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy), os.environ.get("PYTHONPATH", "")])}


def crash_truth(emu: Emulator) -> set:
    return {r["id"] for r in export_days_truth(emu, crash_days())}


def test_export_killed_after_day_12_resumes_at_day_13_and_never_exports_a_finished_day_again(emulator: Emulator, tmp_path: Path) -> None:
    emulator.faults.enforce_rate_limits = False
    config, days = crash_config(emulator), crash_days()
    day_12_newest = max(r["event_time_utc"] for r in emulator.cometly_events_export_truth(days[11].isoformat()))

    env = fast_budget(tmp_path)
    records, state, exit_code = run_until_killed(config, "cometly_events_export", None, tmp_path, None, kill_at_state=day_12_newest, env=env)
    assert exit_code == -9 and state["stream"]["stream_state"] == {"event_time_utc": day_12_newest}
    created_before = len(emulator.requests.matching("/events/exports", method="POST"))

    resumed, _, exit_code = run_until_killed(config, "cometly_events_export", state, tmp_path, None, env=env)
    assert exit_code == 0
    resumed_dates = Counter(json.loads(r.body)["date"] for r in emulator.requests.matching("/events/exports", method="POST")[created_before:])
    assert resumed_dates == Counter(day.isoformat() for day in days[12:])
    # Every event exactly once in the union: days 1 to 12 from the first run, 13 to 30 from the resumed one. Only an
    # event of a day after the checkpoint that the killed run printed before it died (partitions are read on several
    # threads) may come twice, as the contract allows.
    union = Counter([r["id"] for r in records] + [r["id"] for r in resumed])
    assert set(union) == crash_truth(emulator)
    after_checkpoint = {r["id"] for r in records if r["event_time_utc"] > day_12_newest}
    assert all(count == 1 for event, count in union.items() if event not in after_checkpoint)


def _events_truth_records(emu: Emulator) -> List[dict]:
    return [as_emitted(r) for r in events_truth(emu)]


def ground_truth_config(emu: Emulator) -> dict:
    """The config GROUND_TRUTH is for; run the read under sync_starting_at(RANGE_END)."""
    return config_from(emu, RANGE_START)


GROUND_TRUTH: Dict[str, Callable[[Emulator], List[dict]]] = {
    # The records of a full read with ground_truth_config and the sync starting at RANGE_END (duplicates of the list's
    # overlapping windows aside: compare by id).
    "cometly_events": _events_truth_records,
    "cometly_events_export": lambda emu: [as_emitted(r) for r in export_days_truth(emu, days_between(RANGE_START.astimezone(NEW_YORK).date(), (RANGE_END - timedelta(days=1)).astimezone(NEW_YORK).date()))],
    "cometly_companies": lambda emu: emu.cometly_companies_truth(local(RANGE_START), local(RANGE_END)),
}

CRASH_SCENARIOS = {
    # stream: (config, primary key of a record, ground truth, records after which the first runs are killed)
    "cometly_events": (crash_list_config, lambda r: r["id"], crash_truth, [20, 40]),
    "cometly_events_export": (crash_config, lambda r: r["id"], crash_truth, [24, 30]),
    "cometly_companies": (lambda emu: emulator_cometly_config(emu, window_days=30), lambda r: r["id"],
                          lambda emu: {c["id"] for c in emu.cometly_companies_truth(local(datetime(2024, 1, 1, tzinfo=timezone.utc)))}, [100]),
}


@pytest.mark.parametrize("stream", list(CRASH_SCENARIOS))
def test_a_killed_events_or_companies_sync_resumed_from_its_last_state_loses_no_record(emulator: Emulator, tmp_path: Path, stream: str) -> None:
    emulator.faults.enforce_rate_limits = False
    config_for, key, truth_of, kill_points = CRASH_SCENARIOS[stream]
    config, state, seen, env = config_for(emulator), None, set(), fast_budget(tmp_path)
    for kill_after in [*kill_points, None]:
        records, state, exit_code = run_until_killed(config, stream, state, tmp_path, kill_after, env=env)
        seen |= {key(record) for record in records}
    assert exit_code == 0
    assert seen == truth_of(emulator)


@pytest.mark.parametrize("stream", list(GROUND_TRUTH))
def test_a_full_read_returns_the_ground_truth(emulator: Emulator, sleeps: SleepRecorder, stream: str) -> None:
    with sync_starting_at(RANGE_END):
        output = run_read(ground_truth_config(emulator), stream)
    assert records_by_id(output) == {r["id"]: r for r in GROUND_TRUTH[stream](emulator)}
