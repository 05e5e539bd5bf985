"""cometly_contacts_export: the export job lifecycle, re-created jobs, windows in the space time zone, credential-free downloads."""

import gzip
import json
from typing import List

import pytest

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from tests.support.builders import (
    COMETLY_URL,
    StrictHttpMocker,
    cometly_config,
    emitted_states,
    final_state,
    run_read,
    stream_error,
    stream_state,
)

STREAM = "cometly_contacts_export"
AUTH = {"Authorization": "Bearer test-cometly-key"}
FILE_HOST = "https://cometly-exports.s3.amazonaws.com/exports"

# The last window ends when the sync starts: 2024-03-20T12:00:00Z.
pytestmark = pytest.mark.usefixtures("sync_started_at")


def _window(start: str, end: str, include_comet_tokens: int = 0) -> dict:
    """The creation body of one window, in space time."""
    return {"start_date": start, "end_date": end, "include_comet_tokens": include_comet_tokens, "include_all_emails": 0}


def _create(body: dict) -> HttpRequest:
    return HttpRequest(f"{COMETLY_URL}/contacts/exports", headers=AUTH, body=body)


def _created(export_id: int) -> HttpResponse:
    return HttpResponse(json.dumps({"export_id": export_id, "status": "queued", "message": "Export job created."}), 202)


def _poll(export_id: int) -> HttpRequest:
    return HttpRequest(f"{COMETLY_URL}/contacts/exports/{export_id}", headers=AUTH)


def _status(export_id: int, status: str) -> HttpResponse:
    body = {"export_id": export_id, "status": status, "created_at": "2024-03-20T12:00:01Z"}
    if status == "completed":
        body |= {"download_url": f"{FILE_HOST}/{export_id}.ndjson.gz?X-Amz-Signature=sig{export_id}", "expires_at": "2024-03-20T12:15:01Z"}
    return HttpResponse(json.dumps(body), 200)


def _file(export_id: int) -> HttpRequest:
    return HttpRequest(f"{FILE_HOST}/{export_id}.ndjson.gz", query_params={"X-Amz-Signature": f"sig{export_id}"})


def _gzip_ndjson(records: List[dict]) -> HttpResponse:
    body = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    return HttpResponse(body, 200, {"Content-Type": "application/x-gzip"})


def _contacts(*ids_and_times) -> List[dict]:
    return [{"id": i, "email": f"c{i}@example.net", "created_at": t} for i, t in ids_and_times]


def test_job_lifecycle_reads_the_file_without_credentials() -> None:
    config = cometly_config(timezone="America/New_York", export_window_days=365)
    config["start_date"] = "2024-03-01T05:00:00Z"
    window = _window("2024-03-01 00:00:00", "2024-03-20 08:00:00")
    contacts = _contacts((11, "2024-03-02T10:00:00.000000Z"), (12, "2024-03-10T07:00:00.000000Z"), (13, "2024-03-20T11:59:59.000000Z"))
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_create(window), _created(7))
        http_mocker.get(_poll(7), [_status(7, "queued"), _status(7, "processing"), _status(7, "completed")])
        http_mocker.get(_file(7), _gzip_ndjson(contacts))

        output = run_read(config, STREAM, SyncMode.incremental)

        downloads = http_mocker.sent("GET", FILE_HOST)
        polls = http_mocker.sent("GET", f"{COMETLY_URL}/contacts/exports/7")
    assert not output.errors
    assert [m.record.data for m in output.records] == contacts
    assert final_state(output) == {"created_at": "2024-03-20T11:59:59Z"}
    assert len(polls) == 3
    assert len(downloads) == 1 and "Authorization" not in downloads[0].headers


def test_a_failed_job_is_created_again_with_the_same_window_up_to_three_attempts() -> None:
    config = {**cometly_config(export_window_days=1), "start_date": "2024-03-19T00:00:00Z"}
    first, second = _window("2024-03-19 00:00:00", "2024-03-19 23:59:59"), _window("2024-03-20 00:00:00", "2024-03-20 12:00:00")
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_create(first), [_created(7), _created(8), _created(9)])
        http_mocker.get(_poll(7), [_status(7, "processing"), _status(7, "failed")])
        http_mocker.get(_poll(8), _status(8, "failed"))
        http_mocker.get(_poll(9), _status(9, "completed"))
        http_mocker.get(_file(9), _gzip_ndjson(_contacts((21, "2024-03-19T10:00:00.000000Z"))))
        http_mocker.post(_create(second), _created(10))
        http_mocker.get(_poll(10), _status(10, "completed"))
        http_mocker.get(_file(10), _gzip_ndjson(_contacts((22, "2024-03-20T10:00:00.000000Z"))))

        output = run_read(config, STREAM)

        bodies = [r.json() for r in http_mocker.sent("POST", COMETLY_URL)]
    assert not output.errors
    assert sorted(m.record.data["id"] for m in output.records) == [21, 22]
    # The next window may start while the first is retried: compare the creations window by window.
    assert sorted(bodies, key=lambda body: body["start_date"]) == [first, first, first, second]


def test_a_window_failing_every_attempt_fails_naming_it_after_the_next_windows_are_read() -> None:
    config = {**cometly_config(export_window_days=1), "start_date": "2024-03-19T00:00:00Z"}
    first, second = _window("2024-03-19 00:00:00", "2024-03-19 23:59:59"), _window("2024-03-20 00:00:00", "2024-03-20 12:00:00")
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_create(first), [_created(7), _created(8), _created(9)])
        for export_id in (7, 8, 9):
            http_mocker.get(_poll(export_id), _status(export_id, "failed"))
        http_mocker.post(_create(second), _created(10))
        http_mocker.get(_poll(10), _status(10, "completed"))
        http_mocker.get(_file(10), _gzip_ndjson(_contacts((22, "2024-03-20T10:00:00.000000Z"))))

        output = run_read(config, STREAM, SyncMode.incremental, expecting_exception=True)

    assert [m.record.data["id"] for m in output.records] == [22]
    assert stream_error(output, STREAM) == (
        f"Stream {STREAM}: the export job failed for slice {{'start_time': '2024-03-19T00:00:00Z', 'end_time': '2024-03-19T23:59:59Z'}} "
        "(status FAILED after 3 attempts). Other slices were read."
    )
    # One checkpoint per window, both before the failed one: its contacts are exported again next sync.
    assert emitted_states(output) == [{"created_at": "2024-03-19T00:00:00Z"}] * 2


def test_windows_tile_in_the_space_time_zone_across_dst() -> None:
    # America/New_York moves to daylight time on 2024-03-10: windows stay contiguous in UTC, local hours shift.
    config = cometly_config(timezone="America/New_York", export_window_days=7, include_comet_tokens=True)
    config["start_date"] = "2024-03-01T05:00:00Z"
    expected = [
        ("2024-03-01 00:00:00", "2024-03-07 23:59:59"),
        ("2024-03-08 00:00:00", "2024-03-15 00:59:59"),
        ("2024-03-15 01:00:00", "2024-03-20 08:00:00"),
    ]
    with StrictHttpMocker() as http_mocker:
        for n, (start, end) in enumerate(expected, start=1):
            http_mocker.post(_create(_window(start, end, include_comet_tokens=1)), _created(n))
            http_mocker.get(_poll(n), _status(n, "completed"))
            http_mocker.get(_file(n), _gzip_ndjson([]))

        output = run_read(config, STREAM, SyncMode.incremental)

    assert not output.errors and output.records == []
    # No record seen: the state stays at the start (inclusive cursors never skip ahead of data).
    assert final_state(output) == {"created_at": "2024-03-01T05:00:00Z"}


def test_state_starts_the_first_window_and_a_window_ending_at_its_start_is_not_sent() -> None:
    config = cometly_config(export_window_days=30)
    state = stream_state(STREAM, {"created_at": "2024-03-20T11:00:00Z"})
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_create(_window("2024-03-20 11:00:00", "2024-03-20 12:00:00")), _created(9))
        http_mocker.get(_poll(9), _status(9, "completed"))
        http_mocker.get(_file(9), _gzip_ndjson(_contacts((31, "2024-03-20T11:00:00.000000Z"))))

        output = run_read(config, STREAM, SyncMode.incremental, state=state)

    assert [m.record.data["id"] for m in output.records] == [31]

    at_sync_start = stream_state(STREAM, {"created_at": "2024-03-20T12:00:00Z"})
    with StrictHttpMocker():  # any request would fail: no matcher
        output = run_read(config, STREAM, SyncMode.incremental, state=at_sync_start)
    assert not output.errors and output.records == []


def test_a_window_failing_twice_is_exported_as_two_halves_that_tile_it() -> None:
    # One two-day window (sync start 2024-03-20T12:00:00Z, UTC space); its job fails twice, so each day is exported.
    config = {**cometly_config(export_window_days=2), "start_date": "2024-03-18T12:00:00Z"}
    whole = _window("2024-03-18 12:00:00", "2024-03-20 12:00:00")
    halves = [_window("2024-03-18 12:00:00", "2024-03-19 11:59:59"), _window("2024-03-19 12:00:00", "2024-03-20 12:00:00")]
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_create(whole), [_created(7), _created(8)])
        http_mocker.get(_poll(7), _status(7, "failed"))
        http_mocker.get(_poll(8), _status(8, "failed"))
        for export_id, half, contact in zip((9, 10), halves, ((21, "2024-03-19T11:59:59.000000Z"), (22, "2024-03-20T12:00:00.000000Z"))):
            http_mocker.post(_create(half), _created(export_id))
            http_mocker.get(_poll(export_id), _status(export_id, "completed"))
            http_mocker.get(_file(export_id), _gzip_ndjson(_contacts(contact)))

        output = run_read(config, STREAM, SyncMode.incremental)

        bodies = [r.json() for r in http_mocker.sent("POST", COMETLY_URL)]
    assert not output.errors
    assert sorted(m.record.data["id"] for m in output.records) == [21, 22]
    assert bodies == [whole, whole, *halves]
    assert final_state(output) == {"created_at": "2024-03-20T12:00:00Z"}


def test_a_one_day_window_is_not_split_and_fails_the_stream_naming_it_after_three_attempts() -> None:
    config = {**cometly_config(export_window_days=2), "start_date": "2024-03-19T12:00:00Z"}
    day = _window("2024-03-19 12:00:00", "2024-03-20 12:00:00")  # a day and a second: the last window ends at the sync's start
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_create(day), [_created(7), _created(8), _created(9)])
        for export_id in (7, 8, 9):
            http_mocker.get(_poll(export_id), _status(export_id, "failed"))

        output = run_read(config, STREAM, SyncMode.incremental, expecting_exception=True)

    assert output.records == []
    assert stream_error(output, STREAM) == (
        f"Stream {STREAM}: the export job failed for slice {{'start_time': '2024-03-19T12:00:00Z', 'end_time': '2024-03-20T12:00:00Z'}} "
        "(status FAILED after 3 attempts). Other slices were read."
    )
    assert emitted_states(output) == [{"created_at": "2024-03-19T12:00:00Z"}]
