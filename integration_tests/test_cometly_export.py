"""cometly_contacts_export against the emulator: windows, ground truth, incremental reads and the export faults."""

import json
from datetime import datetime, timedelta, timezone

from airbyte_cdk.models import SyncMode

from tests.support.builders import (
    emitted_states,
    emulator_cometly_config,
    final_state,
    run_read,
    sorted_ids,
    stream_error,
    stream_state,
)
from tests.support.console import error_traces, read_via_console
from tests.support.fixtures import SleepRecorder

STREAM = "cometly_contacts_export"
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def truth_ids(emu, since=START):
    """The ids of the contacts created from `since` to now, sorted."""
    return sorted(c["id"] for c in emu.data.cometly_between(since, datetime.now(timezone.utc)))


def export_bodies(emu):
    """The JSON bodies of the export creations the emulator received, in order."""
    return [json.loads(r.body) for r in emu.requests.matching("/contacts/exports", method="POST")]


def window_ids(emu, body):
    """The ids of one export window's file, in file order."""
    return [c["id"] for c in emu.data.cometly_local_window(body["start_date"], body["end_date"])]


def test_full_read_returns_every_contact_once_in_tiled_windows(emulator):
    output = run_read(emulator_cometly_config(emulator, window_days=300), STREAM)

    assert not output.errors
    assert sorted_ids(output) == truth_ids(emulator)
    bodies = export_bodies(emulator)
    assert len(bodies) == 4
    space = emulator.data.cometly_tz
    assert bodies[0]["start_date"] == START.astimezone(space).strftime("%Y-%m-%d %H:%M:%S")
    for previous, current in zip(bodies, bodies[1:]):
        gap = emulator.data.cometly_to_utc(current["start_date"]) - emulator.data.cometly_to_utc(previous["end_date"])
        assert gap == timedelta(seconds=1)
    for body in bodies:
        assert (body["include_comet_tokens"], body["include_all_emails"]) == (0, 0)
        assert emulator.data.cometly_to_utc(body["end_date"]) > emulator.data.cometly_to_utc(body["start_date"])
    # Each window's records are exactly the API's answer for that local window.
    per_window = sum(len(emulator.data.cometly_local_window(b["start_date"], b["end_date"])) for b in bodies)
    assert per_window == len(sorted_ids(output))
    assert all("Authorization" not in r.headers for r in emulator.file_requests)
    assert [r.status for r in emulator.file_requests] == [200] * len(bodies)


def test_flags_go_out_as_1_and_arrays_come_through(emulator):
    output = run_read(emulator_cometly_config(emulator, include_comet_tokens=True, include_all_emails=True), STREAM)

    assert not output.errors
    assert {(b["include_comet_tokens"], b["include_all_emails"]) for b in export_bodies(emulator)} == {(1, 1)}
    truth = {c["id"]: c for c in emulator.data.cometly_between(START, datetime.now(timezone.utc))}
    for message in output.records:
        record = message.record.data
        assert record["comet_tokens"] == truth[record["id"]]["comet_tokens"]
        assert record["all_emails"] == truth[record["id"]]["all_emails"]


def test_incremental_second_read_returns_the_new_contacts(emulator):
    config = emulator_cometly_config(emulator)
    first = run_read(config, STREAM, SyncMode.incremental)
    assert not first.errors and sorted_ids(first) == truth_ids(emulator)
    cursor = final_state(first)["created_at"]
    assert cursor == max(m.record.data["created_at"] for m in first.records)[:19] + "Z"

    added = emulator.data.add_cometly_contacts(3)
    state = stream_state(STREAM, {"created_at": cursor})
    second = run_read(config, STREAM, SyncMode.incremental, state=state)

    assert not second.errors
    # Inclusive cursor: the contacts of the saved second come again, then exactly the new ones.
    at_cursor = [c["id"] for c in emulator.data.cometly_between(datetime.fromisoformat(cursor), datetime.fromisoformat(cursor))]
    assert sorted_ids(second) == sorted(at_cursor + [c["id"] for c in added])
    assert final_state(second)["created_at"] == added[-1]["created_at"][:19] + "Z"


def test_expired_download_url_is_polled_again_and_the_sync_completes(emulator):
    emulator.faults.expire_download_urls(2)
    output = run_read(emulator_cometly_config(emulator, window_days=365), STREAM)

    assert not output.errors
    assert sorted_ids(output) == truth_ids(emulator)
    statuses = [r.status for r in emulator.file_requests]
    windows = len(export_bodies(emulator))
    assert statuses[:3] == [403, 403, 200] and statuses[3:] == [200] * (windows - 1)
    signatures = {r.query["X-Amz-Signature"] for r in emulator.file_requests}
    assert len(signatures) == windows + 2  # each retry used a freshly presigned URL
    polls = emulator.requests.matching("/contacts/exports/", method="GET")
    assert len(polls) == 3 * windows + 2  # queued, processing, completed per job; one more per refused link
    assert all("Authorization" not in r.headers for r in emulator.file_requests)


def test_a_truncated_gzip_is_downloaded_again_and_each_record_read_once(emulator):
    emulator.faults.truncate_next_files(1)
    output = run_read(emulator_cometly_config(emulator, window_days=365), STREAM)

    assert not output.errors
    ids = [m.record.data["id"] for m in output.records]
    assert sorted(ids) == truth_ids(emulator) and len(ids) == len(set(ids))
    assert len(emulator.file_requests) == len(export_bodies(emulator)) + 1


def test_a_gzip_truncated_at_every_download_fails_without_a_record_of_it_or_a_state_past_it(emulator):
    emulator.faults.truncate_next_files(3)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    emulator.data.add_cometly_contacts(500, at=now - timedelta(days=2))
    since = (now - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    state = stream_state(STREAM, {"created_at": since})  # one window: from the state to now
    output = run_read(emulator_cometly_config(emulator), STREAM, SyncMode.incremental, state=state, expecting_exception=True)

    message = stream_error(output, STREAM)
    [file] = {r.path for r in emulator.file_requests}
    assert message.startswith(f"Stream {STREAM}: the export file {emulator.files_url}{file} arrived incomplete 3 times; "
                              "the last time: _CutShort: the gzip file ends without its trailer after line ")
    assert "X-Amz" not in message
    assert len(emulator.file_requests) == 3 and len(export_bodies(emulator)) == 1
    assert output.records == []  # nothing is read from a file that never arrived whole
    assert emitted_states(output) == [{"created_at": since}]


def test_malformed_line_fails_naming_the_line_after_reading_the_other_windows_without_advancing_state(emulator):
    emulator.faults.malformed_ndjson_line(5)
    output = run_read(emulator_cometly_config(emulator, window_days=365), STREAM, SyncMode.incremental, expecting_exception=True)

    message = stream_error(output, STREAM)
    assert message.startswith(f"Stream {STREAM}: line 5 of the export file is not valid JSON (")
    assert "The other windows are still read, then the stream fails with its state before this window." in message
    assert message.endswith("Slice: {'start_time': '2024-01-01T00:00:00Z', 'end_time': '2024-12-30T23:59:59Z'}.")
    first, *others = export_bodies(emulator)
    other_windows = [i for body in others for i in window_ids(emulator, body)]
    assert sorted_ids(output) == sorted(window_ids(emulator, first)[:4] + other_windows)
    assert emitted_states(output) == [{"created_at": "2024-01-01T00:00:00Z"}] * (1 + len(others))


def test_empty_window_export_is_zero_records(emulator):
    config = emulator_cometly_config(emulator)
    config["start_date"] = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    output = run_read(config, STREAM)

    assert not output.errors
    assert output.records == []
    assert len(export_bodies(emulator)) == 1


def test_429_storm_waits_retry_after_each_time_and_completes_with_nothing_lost(emulator, sleeps: SleepRecorder):
    # Every 429'd attempt still spends budget: 1 creation + 3 polls + 1 download refused keeps
    # the creations (3 windows + 1 retry) within the 5-a-minute budget, so no budget wait either.
    emulator.faults.rate_limit("/contacts/exports", 1, retry_after=1)
    emulator.faults.rate_limit("/contacts/exports/", 3, retry_after=1)
    emulator.faults.rate_limit(".ndjson.gz", 1, retry_after=1)
    output = run_read(emulator_cometly_config(emulator, window_days=365), STREAM)

    assert not output.errors
    assert sorted_ids(output) == truth_ids(emulator)
    assert [r.method for r in emulator.requests if r.status == 429] == ["POST"] + ["GET"] * 3
    assert sum(1 for r in emulator.file_requests if r.status == 429) == 1
    # The CDK waits Retry-After + 1 s after each of the five 429s; nothing else waits a second or more
    # (export polls wait at most 10 s, but each job here completes by its third poll).
    assert [wait for wait in sleeps.waits if wait >= 1] == [2] * 5


def test_a_failed_download_names_no_signature(emulator, tmp_path):
    emulator.faults.server_error(".ndjson.gz", times=100, status=404)

    result = read_via_console(emulator_cometly_config(emulator, window_days=365), STREAM, tmp_path)

    assert result.returncode != 0 and error_traces(result.stdout)
    signatures = {r.query["X-Amz-Signature"] for r in emulator.file_requests}
    assert signatures and [r.status for r in emulator.file_requests][0] == 404
    output = result.stdout + result.stderr
    assert not [signature for signature in signatures if signature in output]
    assert "emu-cometly-key" not in output
