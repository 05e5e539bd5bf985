"""components/cometly.py: CometlyWindowRequester (windows in space time), PresignedDownloadRequester (no credentials to
the file host, expired links re-polled; windows read by the API as covering their UTC range in any time zone, DST
changes included, a property test) and GzipNdjsonDecoder (streamed, loud on broken files)."""

import gzip
import io
import json
from datetime import datetime, timedelta, timezone
from unittest.mock import MagicMock
from zoneinfo import ZoneInfo

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from airbyte_cdk.sources.declarative.auth.token import BearerAuthenticator
from airbyte_cdk.sources.declarative.requesters.error_handlers.default_error_handler import DefaultErrorHandler
from airbyte_cdk.sources.declarative.requesters.error_handlers.http_response_filter import HttpResponseFilter
from airbyte_cdk.sources.declarative.requesters.http_requester import HttpRequester
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ResponseAction
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.gzip_ndjson import ExportFileError, GzipNdjsonDecoder
from source_contacts.components.presigned_download import PresignedDownloadRequester
from source_contacts.components.space_time_windows import CometlyWindowRequester, to_space_time
from tests.support.builders import StrictHttpMocker

# ---------------------------------------------------------------- CometlyWindowRequester

WINDOW = StreamSlice(partition={}, cursor_slice={"start_time": "2024-03-10T06:59:59Z", "end_time": "2024-11-03T06:30:00Z"})


@pytest.mark.parametrize(
    "utc_value, zone, expected",
    [
        ("2024-03-10T06:59:59Z", "America/New_York", "2024-03-10 01:59:59"),  # last second of EST
        ("2024-03-10T07:00:00Z", "America/New_York", "2024-03-10 03:00:00"),  # first second of EDT
        ("2024-01-01T00:00:00Z", "UTC", "2024-01-01 00:00:00"),
        ("2024-06-30T23:30:00Z", "Asia/Kolkata", "2024-07-01 05:00:00"),
    ],
)
def test_to_space_time_gives_the_wall_clock_of_the_space_time_zone(utc_value: str, zone: str, expected: str) -> None:
    assert to_space_time(utc_value, ZoneInfo(zone)) == expected


@pytest.mark.parametrize(
    "utc_end, expected",
    [
        ("2024-11-03T05:30:00Z", "2024-11-03 01:30:00"),  # first 01:30 (EDT): unambiguous as read
        ("2024-11-03T06:30:00Z", "2024-11-03 02:00:00"),  # second 01:30 (EST) would read as 05:30Z: end at 02:00
        ("2024-11-03T06:59:59Z", "2024-11-03 02:00:00"),
        ("2024-11-03T07:00:00Z", "2024-11-03 02:00:00"),
    ],
)
def test_window_end_in_the_repeated_hour_is_never_read_early(utc_end: str, expected: str) -> None:
    zone = ZoneInfo("America/New_York")
    assert to_space_time(utc_end, zone, window_end=True) == expected
    # The API reads the first occurrence of a wall time: the end it reads is never before the real end.
    read_back = datetime.strptime(expected, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone).astimezone(timezone.utc)
    assert read_back >= datetime.fromisoformat(utc_end.replace("Z", "+00:00"))


def test_a_window_end_in_chathams_repeated_wall_times_ends_when_they_are_over_at_a_quarter_to() -> None:
    # Chatham's clocks go back from 03:45 to 02:45 (2023-04-01T14:00:00Z): ending at the next whole hour, 03:00,
    # would read as 13:15Z, three quarters of an hour early.
    assert to_space_time("2023-04-01T14:00:00Z", ZoneInfo("Pacific/Chatham"), window_end=True) == "2023-04-02 03:45:00"


# Zones with an hour of DST each way (both hemispheres), half an hour (Lord Howe), none, and fractional offsets.
ZONES = ["America/New_York", "Europe/London", "America/Santiago", "Australia/Sydney", "Australia/Lord_Howe",
         "Pacific/Chatham", "Asia/Kolkata", "UTC"]


def _changes_of_offset(zone: ZoneInfo) -> list:
    """The UTC instants (2023-2026) at which `zone`'s offset changes: a day apart, then to the second."""
    offset = lambda moment: moment.astimezone(zone).utcoffset()  # noqa: E731
    instants, day = [], datetime(2023, 1, 1, tzinfo=timezone.utc)
    while day < datetime(2027, 1, 1, tzinfo=timezone.utc):
        low, high = day, day + timedelta(days=1)
        if offset(low) != offset(high):
            while high - low > timedelta(seconds=1):
                middle = low + timedelta(seconds=(high - low) // timedelta(seconds=2))
                low, high = (low, middle) if offset(middle) == offset(high) else (middle, high)
            instants.append(high)
        day += timedelta(days=1)
    return instants or [datetime(2024, 6, 1, tzinfo=timezone.utc)]


CHANGES = {name: _changes_of_offset(ZoneInfo(name)) for name in ZONES}


def _as_the_api_reads(wall: str, zone: ZoneInfo) -> datetime:
    """A `YYYY-MM-DD HH:MM:SS` space time as Cometly reads it: an ambiguous wall time as its first occurrence."""
    return datetime.strptime(wall, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone, fold=0).astimezone(timezone.utc)


@st.composite
def windows_near_offset_changes(draw: st.DrawFn) -> tuple:
    """A zone and a UTC window whose start and end fall within hours of its offset changes, or anywhere."""
    name = draw(st.sampled_from(ZONES))
    near = st.builds(lambda change, seconds: change + timedelta(seconds=seconds),
                     st.sampled_from(CHANGES[name]), st.integers(-3 * 3600, 3 * 3600))
    anywhere = st.builds(lambda seconds: datetime(2023, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds),
                         st.integers(0, 4 * 365 * 86400))
    start = draw(st.one_of(near, anywhere))
    end = draw(st.one_of(near, anywhere, st.builds(lambda s: start + timedelta(seconds=s), st.integers(0, 6 * 3600))))
    start, end = sorted((start, end))
    return name, start, end


@settings(max_examples=300, deadline=None)
@given(windows_near_offset_changes())
def test_a_window_sent_in_space_time_is_read_by_the_api_as_covering_it_with_at_most_an_hour_more(window: tuple) -> None:
    name, start, end = window
    zone = ZoneInfo(name)
    stamp = lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731

    read_start = _as_the_api_reads(to_space_time(stamp(start), zone), zone)
    read_end = _as_the_api_reads(to_space_time(stamp(end), zone, window_end=True), zone)

    # Consecutive windows (the next starting a second after this one ends) thus leave no contact unrequested.
    assert read_start <= start and read_end >= end
    assert start - read_start <= timedelta(hours=1) and read_end - end <= timedelta(hours=1)


def _wrapped(inject_into: str, timezone: str = "America/New_York") -> tuple:
    inner = MagicMock()
    requester = CometlyWindowRequester(requester=inner, config={"cometly": {"timezone": timezone}}, parameters={}, inject_into=inject_into)
    return requester, inner


def test_window_goes_into_the_query_next_to_the_other_parameters() -> None:
    requester, inner = _wrapped("request_parameter")

    requester.send_request(stream_slice=WINDOW, request_params={"cursor": "n1"})

    sent = inner.send_request.call_args.kwargs
    # The window ends at 06:30Z, the second 01:30 of New York's autumn change: sent as 02:00 (no gap).
    assert sent["request_params"] == {"cursor": "n1", "start_date": "2024-03-10 01:59:59", "end_date": "2024-11-03 02:00:00"}
    assert sent["request_body_json"] is None


def test_window_goes_into_the_json_body_for_post_requests() -> None:
    requester, inner = _wrapped("body_json", timezone="UTC")

    requester.send_request(stream_slice=WINDOW, request_body_json={"include_all_emails": 1})

    sent = inner.send_request.call_args.kwargs
    assert sent["request_body_json"] == {"include_all_emails": 1, "start_date": "2024-03-10 06:59:59", "end_date": "2024-11-03 06:30:00"}


def test_a_slice_without_a_window_adds_nothing() -> None:
    requester, inner = _wrapped("request_parameter")

    requester.send_request(stream_slice=StreamSlice(partition={"export_id": "e1"}, cursor_slice={}), request_params={"a": "1"})

    assert inner.send_request.call_args.kwargs["request_params"] == {"a": "1"}


def test_unknown_injection_target_is_refused() -> None:
    with pytest.raises(ValueError, match="inject_into"):
        _wrapped("header")


# ---------------------------------------------------------------- PresignedDownloadRequester

API = "https://app.cometly.com/public-api/v1"
FILES = "https://files.example.com/exports/7.ndjson.gz"
CONFIG = {"cometly": {"api_key": "secret-key"}}


def _download_requester(max_url_refreshes: int = 2) -> PresignedDownloadRequester:
    status = HttpRequester(
        name="poll",
        url_base=API,
        path="/contacts/exports/{{ creation_response['export_id'] }}",
        authenticator=BearerAuthenticator(token_provider=_Token(), config=CONFIG, parameters={}),
        config=CONFIG,
        parameters={},
    )
    ignore_403 = DefaultErrorHandler(
        config=CONFIG,
        parameters={},
        response_filters=[HttpResponseFilter(action=ResponseAction.IGNORE, http_codes={403}, config=CONFIG, parameters={})],
    )
    return PresignedDownloadRequester(
        name="job download - cometly_contacts_export",
        url_base="{{ download_target }}",
        config=CONFIG,
        parameters={},
        error_handler=ignore_403,
        refresh_requester=status,
        max_url_refreshes=max_url_refreshes,
    )


class _Token:
    def get_token(self) -> str:
        return "secret-key"


def job_slice(signature: str = "old") -> StreamSlice:
    return StreamSlice(
        partition={},
        cursor_slice={"start_time": "2024-01-01T00:00:00Z", "end_time": "2024-01-30T23:59:59Z"},
        extra_fields={"download_target": f"{FILES}?X-Amz-Signature={signature}", "creation_response": {"export_id": 7}},
    )


def _file(signature: str) -> HttpRequest:
    return HttpRequest(FILES, query_params={"X-Amz-Signature": signature})


def _completed(signature: str) -> HttpResponse:
    return HttpResponse(json.dumps({"export_id": 7, "status": "completed", "download_url": f"{FILES}?X-Amz-Signature={signature}"}))


def test_downloads_the_captured_url_without_credentials() -> None:
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_file("old"), HttpResponse("file-bytes"))
        response = _download_requester().send_request(stream_slice=job_slice())
        sent = http_mocker.sent("GET")
    assert response.text == "file-bytes"
    assert len(sent) == 1 and "Authorization" not in sent[0].headers


def test_expired_link_is_replaced_by_a_fresh_poll() -> None:
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_file("old"), HttpResponse("<Error><Code>AccessDenied</Code></Error>", 403))
        http_mocker.get(HttpRequest(f"{API}/contacts/exports/7", headers={"Authorization": "Bearer secret-key"}), _completed("new"))
        http_mocker.get(_file("new"), HttpResponse("file-bytes"))
        response = _download_requester().send_request(stream_slice=job_slice())
        sent = [(r.url.split("?")[0], "Authorization" in r.headers) for r in http_mocker.sent("GET")]
    assert response.text == "file-bytes"
    assert sent == [(FILES, False), (f"{API}/contacts/exports/7", True), (FILES, False)]


def test_links_refused_every_time_fail_without_printing_the_url() -> None:
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_file("old"), HttpResponse("expired", 403))
        http_mocker.get(HttpRequest(f"{API}/contacts/exports/7"), [_completed("a"), _completed("b")])
        http_mocker.get(_file("a"), HttpResponse("expired", 403))
        http_mocker.get(_file("b"), HttpResponse("expired", 403))
        with pytest.raises(AirbyteTracedException) as error:
            _download_requester(max_url_refreshes=2).send_request(stream_slice=job_slice())
    assert "refused 3 download links" in error.value.message and "2024-01-01T00:00:00Z" in error.value.message
    assert "Signature" not in error.value.message and FILES not in error.value.message


# ---------------------------------------------------------------- GzipNdjsonDecoder

def _gzip_response(body: bytes) -> requests.Response:
    answer = requests.Response()
    answer.status_code = 200
    answer.raw = io.BytesIO(body)
    return answer


def _decode(body: bytes) -> list:
    return list(GzipNdjsonDecoder(parameters={"name": "cometly_contacts_export"}).decode(_gzip_response(body)))


LINES = b'{"id":1,"created_at":"2024-01-15T10:23:45.000000Z","comet_tokens":["a","b"]}\n{"id":2,"name":"Zo\xc3\xab"}\n'


def test_decodes_each_line_into_a_record() -> None:
    assert _decode(gzip.compress(LINES)) == [
        {"id": 1, "created_at": "2024-01-15T10:23:45.000000Z", "comet_tokens": ["a", "b"]},
        {"id": 2, "name": "Zoë"},
    ]


def test_streams_from_the_raw_body() -> None:
    decoder = GzipNdjsonDecoder(parameters={})
    assert decoder.is_stream_response() is True


@pytest.mark.parametrize("body", [b"", gzip.compress(b""), gzip.compress(b"\n")], ids=["no bytes", "empty gzip", "a blank line"])
def test_empty_export_is_zero_records(body: bytes) -> None:
    assert _decode(body) == []


def test_truncated_gzip_fails_naming_the_last_good_line() -> None:
    many = b"".join(b'{"id":%d,"pad":"%s"}\n' % (i, b"x" * 40) for i in range(2000))
    blob = gzip.compress(many)
    records = []
    with pytest.raises(ExportFileError) as error:
        for record in GzipNdjsonDecoder(parameters={"name": "cometly_contacts_export"}).decode(_gzip_response(blob[: len(blob) // 2])):
            records.append(record)
    assert "cometly_contacts_export" in error.value.message and "truncated" in error.value.message
    assert f"after line {len(records)} " in error.value.message
    assert [r["id"] for r in records] == list(range(len(records)))


def test_malformed_line_fails_naming_it() -> None:
    with pytest.raises(ExportFileError, match=r"line 2 of the export file is not valid JSON"):
        _decode(gzip.compress(b'{"id":1}\n{"id":2,"na\n{"id":3}\n'))


def test_a_line_that_is_not_an_object_fails() -> None:
    with pytest.raises(ExportFileError, match=r"line 1 of the export file is not a JSON object"):
        _decode(gzip.compress(b'[1, 2]\n'))


def test_date_times_not_in_utc_become_utc_ending_in_z_and_those_in_utc_are_left_alone() -> None:
    lines = (b'{"id":1,"created_at":"2024-01-15T10:23:45.000000Z","updated_at":"2024-01-15T12:23:45+02:00"}\n'
             b'{"id":2,"created_at":"2024-01-15 10:23:45","updated_at":null}\n')
    decoder = GzipNdjsonDecoder(parameters={"name": "cometly_contacts_export"}, datetime_fields=["created_at", "updated_at"])
    assert list(decoder.decode(_gzip_response(gzip.compress(lines)))) == [
        {"id": 1, "created_at": "2024-01-15T10:23:45.000000Z", "updated_at": "2024-01-15T10:23:45.000Z"},
        {"id": 2, "created_at": "2024-01-15T10:23:45.000Z", "updated_at": None},
    ]
    with pytest.raises(ExportFileError) as error:
        list(decoder.decode(_gzip_response(gzip.compress(b'{"id":3,"created_at":"yesterday"}\n'))))
    assert error.value.message == (
        "Stream cometly_contacts_export: line 1 of the export file: created_at 'yesterday' is not a date-time. "
        "The other windows are still read, then the stream fails with its state before this window."
    )


def test_a_plain_ndjson_file_is_read_and_said_to_be_plain(caplog: pytest.LogCaptureFixture) -> None:
    body = b'{"id": 1, "created_at": "2024-01-01T00:00:00Z"}\n{"id": 2, "created_at": "2024-01-02T00:00:00Z"}\n'
    records = list(GzipNdjsonDecoder(parameters={"name": "cometly_contacts_export"}).decode(_gzip_response(body)))
    assert [r["id"] for r in records] == [1, 2]
    assert "Stream cometly_contacts_export: the export file is plain NDJSON, not gzip as the API documents" in caplog.text
