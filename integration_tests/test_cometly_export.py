"""cometly_contacts_export against the emulator: windows, ground truth, incremental reads and the export faults."""

import json
import time
from datetime import datetime, timedelta, timezone

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.state_builder import StateBuilder

from integration_tests.console import error_traces, read_via_console
from unit_tests.builders import run_read

STREAM = "cometly_contacts_export"
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def cometly_config(emu, **overrides):
    cfg = emu.config()
    return {"start_date": cfg["start_date"], "cometly": {**cfg["cometly"], **overrides}}


def ids(output):
    return sorted(message.record.data["id"] for message in output.records)


def truth_ids(emu, since=START):
    return sorted(c["id"] for c in emu.data.cometly_between(since, datetime.now(timezone.utc)))


def export_bodies(emu):
    return [json.loads(r.body) for r in emu.requests.matching("/contacts/exports", method="POST")]


def stream_error(output):
    """The failure trace of the stream (not the sync's closing summary)."""
    return next(m.trace.error.message for m in output.errors if m.trace.error.stream_descriptor and m.trace.error.stream_descriptor.name == STREAM)


def states(output):
    return [message.state.stream.stream_state.__dict__ for message in output.state_messages]


def test_full_read_returns_every_contact_once_in_tiled_windows(emulator):
    started = time.monotonic()
    output = run_read(cometly_config(emulator, window_days=300), STREAM)
    elapsed = time.monotonic() - started

    assert not output.errors
    assert ids(output) == truth_ids(emulator)
    assert len(ids(output)) == len(set(ids(output)))
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
    assert per_window == len(ids(output))
    assert all("Authorization" not in r.headers for r in emulator.file_requests)
    assert [r.status for r in emulator.file_requests] == [200] * len(bodies)
    assert elapsed < 15, f"{len(bodies)} export jobs took {elapsed:.1f}s"


def test_flags_go_out_as_1_and_arrays_come_through(emulator):
    output = run_read(cometly_config(emulator, include_comet_tokens=True, include_all_emails=True), STREAM)

    assert not output.errors
    assert {(b["include_comet_tokens"], b["include_all_emails"]) for b in export_bodies(emulator)} == {(1, 1)}
    truth = {c["id"]: c for c in emulator.data.cometly_between(START, datetime.now(timezone.utc))}
    for message in output.records:
        record = message.record.data
        assert record["comet_tokens"] == truth[record["id"]]["comet_tokens"]
        assert record["all_emails"] == truth[record["id"]]["all_emails"]


def test_incremental_second_read_returns_the_new_contacts(emulator):
    config = cometly_config(emulator)
    first = run_read(config, STREAM, SyncMode.incremental)
    assert not first.errors and ids(first) == truth_ids(emulator)
    cursor = states(first)[-1]["created_at"]
    assert cursor == max(m.record.data["created_at"] for m in first.records)[:19] + "Z"

    added = emulator.data.add_cometly_contacts(3)
    state = StateBuilder().with_stream_state(STREAM, {"created_at": cursor}).build()
    second = run_read(config, STREAM, SyncMode.incremental, state=state)

    assert not second.errors
    # Inclusive cursor: the contacts of the saved second come again, then exactly the new ones.
    at_cursor = [c["id"] for c in emulator.data.cometly_between(datetime.fromisoformat(cursor), datetime.fromisoformat(cursor))]
    assert ids(second) == sorted(at_cursor + [c["id"] for c in added])
    assert states(second)[-1]["created_at"] == added[-1]["created_at"][:19] + "Z"


def test_expired_download_url_is_polled_again_and_the_sync_completes(emulator):
    emulator.faults.expire_download_urls(2)
    output = run_read(cometly_config(emulator, window_days=365), STREAM)

    assert not output.errors
    assert ids(output) == truth_ids(emulator)
    statuses = [r.status for r in emulator.file_requests]
    windows = len(export_bodies(emulator))
    assert statuses[:3] == [403, 403, 200] and statuses[3:] == [200] * (windows - 1)
    signatures = {r.query["X-Amz-Signature"] for r in emulator.file_requests}
    assert len(signatures) == windows + 2  # each retry used a freshly presigned URL
    polls = emulator.requests.matching("/contacts/exports/", method="GET")
    assert len(polls) == 3 * windows + 2  # queued, processing, completed per job; one more per refused link
    assert all("Authorization" not in r.headers for r in emulator.file_requests)


def test_truncated_gzip_fails_loudly_without_advancing_state(emulator):
    emulator.faults.truncate_next_files(1)
    initial = "2024-06-01T00:00:00Z"
    state = StateBuilder().with_stream_state(STREAM, {"created_at": initial}).build()
    output = run_read(cometly_config(emulator, window_days=365), STREAM, SyncMode.incremental, state=state, expecting_exception=True)

    message = stream_error(output)
    assert STREAM in message and "truncated" in message and "start_time" in message and "2024-06-01T00:00:00Z" in message
    assert {s["created_at"] for s in states(output)} <= {initial}
    assert len(ids(output)) < len(truth_ids(emulator, datetime(2024, 6, 1, tzinfo=timezone.utc)))


def test_malformed_line_fails_naming_the_line(emulator):
    emulator.faults.malformed_ndjson_line(5)
    output = run_read(cometly_config(emulator, window_days=365), STREAM, SyncMode.incremental, expecting_exception=True)

    message = stream_error(output)
    assert "line 5 " in message and STREAM in message and "start_time" in message
    assert len(ids(output)) < len(truth_ids(emulator))
    assert {s["created_at"] for s in states(output)} <= {"2024-01-01T00:00:00Z"}


def test_empty_window_export_is_zero_records(emulator):
    config = cometly_config(emulator)
    config["start_date"] = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    output = run_read(config, STREAM)

    assert not output.errors
    assert output.records == []
    assert len(export_bodies(emulator)) == 1


def test_failed_job_is_created_again(emulator):
    emulator.faults.fail_next_jobs("cometly", 2)
    output = run_read(cometly_config(emulator, window_days=365), STREAM)

    assert not output.errors
    assert ids(output) == truth_ids(emulator)
    bodies = export_bodies(emulator)
    assert len(bodies) == 3 + 2  # three windows, the first created three times
    assert bodies[0] == bodies[1] == bodies[2] and bodies[2] != bodies[3]


def test_job_failing_every_attempt_fails_the_sync_naming_stream_and_window(emulator):
    emulator.faults.fail_next_jobs("cometly", 3)
    output = run_read(cometly_config(emulator, window_days=365), STREAM, expecting_exception=True)

    message = stream_error(output)
    assert f"Stream {STREAM}" in message and "'start_time': '2024-01-01T00:00:00Z'" in message and "3 attempts" in message
    bodies = export_bodies(emulator)
    assert bodies[0] == bodies[1] == bodies[2] and bodies[3] != bodies[0]


def test_429_storm_with_retry_after_completes_with_nothing_lost(emulator):
    # Every 429'd attempt still spends budget: 1 creation + 3 polls + 1 download refused keeps
    # the creations (3 windows + 1 retry) within the 5-a-minute budget, so nothing waits a minute.
    emulator.faults.rate_limit("/contacts/exports", 1, retry_after=1)
    emulator.faults.rate_limit("/contacts/exports/", 3, retry_after=1)
    emulator.faults.rate_limit(".ndjson.gz", 1, retry_after=1)
    started = time.monotonic()
    output = run_read(cometly_config(emulator, window_days=365), STREAM)
    elapsed = time.monotonic() - started

    assert not output.errors
    assert ids(output) == truth_ids(emulator)
    assert [r.method for r in emulator.requests if r.status == 429] == ["POST"] + ["GET"] * 3
    assert sum(1 for r in emulator.file_requests if r.status == 429) == 1
    # The CDK waits Retry-After + 1 s: five waits of 2 s, not a minute of budget.
    assert 5 <= elapsed < 15, f"5 waits of Retry-After 1s took {elapsed:.1f}s"


def test_a_failed_download_names_no_signature(emulator, tmp_path):
    emulator.faults.server_error(".ndjson.gz", times=100, status=404)

    result = read_via_console(cometly_config(emulator, window_days=365), STREAM, tmp_path)

    assert result.returncode != 0 and error_traces(result.stdout)
    signatures = {r.query["X-Amz-Signature"] for r in emulator.file_requests}
    assert signatures and [r.status for r in emulator.file_requests][0] == 404
    output = result.stdout + result.stderr
    assert not [signature for signature in signatures if signature in output]
    assert "emu-cometly-key" not in output
