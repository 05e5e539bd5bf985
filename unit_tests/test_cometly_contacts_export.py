"""cometly_contacts_export: the export job lifecycle, re-created jobs, windows in the space time zone, credential-free downloads."""

import gzip
import json
from datetime import timezone
from typing import Iterator, List
from unittest.mock import patch

import pytest

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.concurrent.state_converters.datetime_stream_state_converter import DateTimeStreamStateConverter
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse
from airbyte_cdk.test.state_builder import StateBuilder
from airbyte_cdk.utils.datetime_helpers import AirbyteDateTime

from unit_tests.builders import COMETLY_URL, cometly_config, run_read

STREAM = "cometly_contacts_export"
AUTH = {"Authorization": "Bearer test-cometly-key"}
SYNC_START = AirbyteDateTime(2024, 3, 20, 12, 0, 0, tzinfo=timezone.utc)
FILE_HOST = "https://cometly-exports.s3.amazonaws.com/exports"


@pytest.fixture(autouse=True)
def frozen_sync_start() -> Iterator[None]:
    """The last window ends when the sync starts; pin that moment."""
    with patch.object(DateTimeStreamStateConverter, "get_end_provider", classmethod(lambda cls: lambda: SYNC_START)):
        yield


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


def _sent(http_mocker: HttpMocker, method: str, url_start: str) -> list:
    # HttpMocker can match headers that are present, not absent: read what was sent from its requests_mock history.
    return [r for r in http_mocker._mocker.request_history if r.method == method and r.url.startswith(url_start)]


def test_job_lifecycle_reads_the_file_without_credentials() -> None:
    config = cometly_config(timezone="America/New_York", window_days=365)
    config["start_date"] = "2024-03-01T05:00:00Z"
    window = {"start_date": "2024-03-01 00:00:00", "end_date": "2024-03-20 08:00:00", "include_comet_tokens": 0, "include_all_emails": 0}
    contacts = _contacts((11, "2024-03-02T10:00:00.000000Z"), (12, "2024-03-10T07:00:00.000000Z"), (13, "2024-03-20T11:59:59.000000Z"))
    with HttpMocker() as http_mocker:
        http_mocker.post(_create(window), _created(7))
        http_mocker.get(_poll(7), [_status(7, "queued"), _status(7, "processing"), _status(7, "completed")])
        http_mocker.get(_file(7), _gzip_ndjson(contacts))

        output = run_read(config, STREAM, SyncMode.incremental)

        downloads = _sent(http_mocker, "GET", FILE_HOST)
        polls = _sent(http_mocker, "GET", f"{COMETLY_URL}/contacts/exports/7")
    assert not output.errors
    assert [m.record.data for m in output.records] == contacts
    assert output.most_recent_state.stream_state.__dict__ == {"created_at": "2024-03-20T11:59:59Z"}
    assert len(polls) == 3
    assert len(downloads) == 1 and "Authorization" not in downloads[0].headers


def test_failed_job_is_created_again() -> None:
    config = cometly_config(window_days=365)
    config["start_date"] = "2024-03-19T00:00:00Z"
    window = {"start_date": "2024-03-19 00:00:00", "end_date": "2024-03-20 12:00:00", "include_comet_tokens": 0, "include_all_emails": 0}
    with HttpMocker() as http_mocker:
        http_mocker.post(_create(window), [_created(7), _created(8)])
        http_mocker.get(_poll(7), [_status(7, "processing"), _status(7, "failed")])
        http_mocker.get(_poll(8), _status(8, "completed"))
        http_mocker.get(_file(8), _gzip_ndjson(_contacts((21, "2024-03-19T10:00:00.000000Z"))))

        output = run_read(config, STREAM)

        bodies = [r.json() for r in _sent(http_mocker, "POST", COMETLY_URL)]
    assert not output.errors
    assert [m.record.data["id"] for m in output.records] == [21]
    assert bodies == [window, window]


def test_windows_tile_in_the_space_time_zone_across_dst() -> None:
    # America/New_York moves to daylight time on 2024-03-10: windows stay contiguous in UTC, local hours shift.
    config = cometly_config(timezone="America/New_York", window_days=7, include_comet_tokens=True)
    config["start_date"] = "2024-03-01T05:00:00Z"
    expected = [
        ("2024-03-01 00:00:00", "2024-03-07 23:59:59"),
        ("2024-03-08 00:00:00", "2024-03-15 00:59:59"),
        ("2024-03-15 01:00:00", "2024-03-20 08:00:00"),
    ]
    with HttpMocker() as http_mocker:
        for n, (start, end) in enumerate(expected, start=1):
            body = {"start_date": start, "end_date": end, "include_comet_tokens": 1, "include_all_emails": 0}
            http_mocker.post(_create(body), _created(n))
            http_mocker.get(_poll(n), _status(n, "completed"))
            http_mocker.get(_file(n), _gzip_ndjson([]))

        output = run_read(config, STREAM, SyncMode.incremental)

    assert not output.errors and output.records == []
    # No record seen: the state stays at the start (inclusive cursors never skip ahead of data).
    assert output.most_recent_state.stream_state.__dict__ == {"created_at": "2024-03-01T05:00:00Z"}


def test_state_starts_the_first_window_and_a_window_ending_at_its_start_is_not_sent() -> None:
    config = cometly_config(window_days=30)
    state = StateBuilder().with_stream_state(STREAM, {"created_at": "2024-03-20T11:00:00Z"}).build()
    body = {"start_date": "2024-03-20 11:00:00", "end_date": "2024-03-20 12:00:00", "include_comet_tokens": 0, "include_all_emails": 0}
    with HttpMocker() as http_mocker:
        http_mocker.post(_create(body), _created(9))
        http_mocker.get(_poll(9), _status(9, "completed"))
        http_mocker.get(_file(9), _gzip_ndjson(_contacts((31, "2024-03-20T11:00:00.000000Z"))))

        output = run_read(config, STREAM, SyncMode.incremental, state=state)

    assert [m.record.data["id"] for m in output.records] == [31]

    at_sync_start = StateBuilder().with_stream_state(STREAM, {"created_at": "2024-03-20T12:00:00Z"}).build()
    with HttpMocker():  # any request would fail: no matcher
        output = run_read(config, STREAM, SyncMode.incremental, state=at_sync_start)
    assert not output.errors and output.records == []
