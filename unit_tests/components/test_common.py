"""components/common.py: slice_location, ExportSliceRecordFilter (partition fields, cursor floor, slice named on failure),
to_rfc3339, SpooledDownloadRequester (the whole file on disk, downloads cut half way started again), PausingApiBudget
(Retry-After for every thread, no wait for budget over 10 minutes), and the per-record fast path and adaptive windows,
each against the CDK component it stands in for."""

import gzip
import io
import json
import threading
import zlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional
from unittest.mock import MagicMock

import pytest
import requests
import requests_mock
import yaml

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.decoders import JsonDecoder
from airbyte_cdk.sources.declarative.extractors.dpath_extractor import DpathExtractor
from airbyte_cdk.sources.declarative.extractors.record_selector import RecordSelector
from airbyte_cdk.sources.streams.concurrent.cursor import ConcurrentCursor, CursorField
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.streams.concurrent.state_converters.datetime_stream_state_converter import (
    CustomFormatConcurrentStreamStateConverter,
)
from airbyte_cdk.sources.declarative.models.declarative_component_schema import HTTPAPIBudget as HTTPAPIBudgetModel
from airbyte_cdk.sources.streams.call_rate import HttpAPIBudget, MovingWindowCallRatePolicy, Rate
from airbyte_cdk.sources.types import Record, StreamSlice
from airbyte_cdk.sources.utils.transform import TransformConfig, TypeTransformer
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.cdk_hooks import ContactsComponentFactory
from source_contacts.components import common
from source_contacts.components.common import (
    AdaptiveWindowCursor,
    DecodeOnceJsonDecoder,
    DeferredObserveCursor,
    ExportSliceRecordFilter,
    FieldPathExtractor,
    PlainRecordSelector,
    PausingApiBudget,
    SpooledDownloadRequester,
    WindowReportingRetriever,
    expected_records,
    slice_location,
    to_rfc3339,
)
from tests.support.fixtures import SleepRecorder

MANIFEST = Path(common.__file__).parent.parent / "manifest.yaml"
COMETLY = "https://app.cometly.com/public-api/v1"

# ---------------------------------------------------------------- slice_location


def test_a_window_is_named_by_its_bounds_even_with_a_partition() -> None:
    window = {"start_time": "2024-01-01T00:00:00Z", "end_time": "2024-01-30T23:59:59Z"}
    assert slice_location(StreamSlice(partition={"list_id": "1"}, cursor_slice=window)) == window


def test_a_list_partition_is_named_by_its_id() -> None:
    assert slice_location(StreamSlice(partition={"list_id": "7"}, cursor_slice={})) == {"list_id": "7"}


def test_no_slice_is_empty() -> None:
    assert slice_location(None) == {}


# ---------------------------------------------------------------- ExportSliceRecordFilter


def _filter(**kwargs: object) -> ExportSliceRecordFilter:
    return ExportSliceRecordFilter(parameters={"name": "s"}, config={}, **kwargs)


def test_partition_fields_are_copied_into_every_record() -> None:
    records = [{"email": "a@x"}, {"email": "b@x"}]
    out = list(_filter(partition_fields=["list_id"]).filter_records(records, {}, StreamSlice(partition={"list_id": "7"}, cursor_slice={})))
    assert out == [{"email": "a@x", "list_id": "7"}, {"email": "b@x", "list_id": "7"}]


def test_records_before_the_slice_start_second_are_dropped_and_undated_ones_kept() -> None:
    window = StreamSlice(partition={}, cursor_slice={"start_time": "2024-05-01T10:00:00.700Z", "end_time": "2024-06-01T00:00:00.000Z"})
    records = [
        {"id": 1, "updated_at": "2024-05-01T09:59:59.999Z"},
        {"id": 2, "updated_at": "2024-05-01T10:00:00.000Z"},
        {"id": 3, "updated_at": "2024-05-02T00:00:00.000Z"},
        {"id": 4, "updated_at": None},
    ]
    out = list(_filter(cursor_field="updated_at").filter_records(records, {}, window))
    assert [r["id"] for r in out] == [2, 3, 4]


def test_a_failure_while_reading_names_the_slice() -> None:
    def broken() -> Iterator[dict]:
        yield {"email": "a@x"}
        raise AirbyteTracedException(message="Stream s: the export file f is broken: row 2.", failure_type=FailureType.system_error)

    out = _filter(partition_fields=["list_id"]).filter_records(broken(), {}, StreamSlice(partition={"list_id": "7"}, cursor_slice={}))
    assert next(out) == {"email": "a@x", "list_id": "7"}
    with pytest.raises(AirbyteTracedException) as raised:
        next(out)
    assert raised.value.message == "Stream s: the export file f is broken: row 2. Slice: {'list_id': '7'}."


# ---------------------------------------------------------------- to_rfc3339


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2018-11-29 15:10:15 -0500", "2018-11-29T20:10:15.000Z"),
        ("2019-11-25T16:29:13.057 -0500", "2019-11-25T21:29:13.057Z"),
        ("2019-11-25T23:29:13.5+05:30", "2019-11-25T17:59:13.500Z"),
        ("2024-03-01T10:00:00.000Z", "2024-03-01T10:00:00.000Z"),
        ("2024-12-31 23:30:00 -0100", "2025-01-01T00:30:00.000Z"),
        ("2019-11-25T16:29:13.0575 +0130", "2019-11-25T14:59:13.057Z"),  # four fraction digits
        ("2019-11-25 16:29:13 -05:00", "2019-11-25T21:29:13.000Z"),  # colon offset: the regex path
        ("2019-11-25 16:29:13", "2019-11-25T16:29:13.000Z"),  # no offset: read as UTC
        ("", None),
    ],
)
def test_to_rfc3339_normalizes_both_csv_forms_to_utc(value: str, expected: str) -> None:
    assert to_rfc3339(value) == expected


def test_to_rfc3339_rejects_what_is_not_a_date_time() -> None:
    with pytest.raises(ValueError):
        to_rfc3339("29/11/2018")
    with pytest.raises(ValueError):
        to_rfc3339("29/11/2018 10:00 -0500")


# ---------------------------------------------------------------- SpooledDownloadRequester

FILE = "https://files.example.com/exports/f.csv"
CSV = b"Email\r\na@example.com\r\nb@example.com\r\n"


def _spooler(url_base: str = FILE, **kwargs: object) -> SpooledDownloadRequester:
    return SpooledDownloadRequester(
        name="job download - s",
        url_base=url_base,
        config={},
        parameters={"name": "s"},
        request_headers={"Accept": "text/csv"},
        expected_records="{{ polling_response.get('status', {}).get('items_total_count') }}",
        **kwargs,
    )


def _download_slice(polling_response: dict) -> StreamSlice:
    return StreamSlice(partition={}, cursor_slice={}, extra_fields={"polling_response": polling_response})


class _ResetAfter(io.RawIOBase):
    """A body whose connection is reset after `size` bytes, as urllib3 meets it when a server goes away half way."""

    def __init__(self, body: bytes, size: int) -> None:
        self._body, self._left = io.BytesIO(body), size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:
        if self._left <= 0:
            raise ConnectionResetError(104, "Connection reset by peer")
        chunk = self._body.read(min(len(buffer), self._left))
        self._left -= len(chunk)
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_the_file_is_downloaded_whole_to_disk_with_the_reported_count() -> None:
    with requests_mock.Mocker() as mocker:
        mocker.get(FILE, content=CSV, headers={"Content-Length": str(len(CSV))})
        response = _spooler().send_request(stream_slice=_download_slice({"status": {"items_total_count": 2}}))

        assert mocker.last_request.headers["Accept"] == "text/csv"
    assert response.raw.read() == CSV and response.raw.seekable()
    assert expected_records(response) == 2


def test_without_a_reported_count_there_is_none() -> None:
    with requests_mock.Mocker() as mocker:
        mocker.get(FILE, content=CSV)
        response = _spooler().send_request(stream_slice=_download_slice({"state": "completed"}))
    assert expected_records(response) is None


def test_a_download_reset_half_way_is_downloaded_again(sleeps: SleepRecorder) -> None:
    with requests_mock.Mocker() as mocker:
        mocker.get(FILE, [
            {"body": _ResetAfter(CSV, 10), "headers": {"Content-Length": str(len(CSV))}},
            {"content": CSV[:12], "headers": {"Content-Length": str(len(CSV))}},  # fewer bytes than announced
            {"content": CSV, "headers": {"Content-Length": str(len(CSV))}},
        ])
        response = _spooler().send_request(stream_slice=_download_slice({"status": {"items_total_count": 2}}))

        assert mocker.call_count == 3
    assert response.raw.read() == CSV
    assert sleeps.waits == [2.0, 4.0]


def test_a_download_reset_every_time_fails_naming_stream_and_file_without_the_query() -> None:
    with requests_mock.Mocker() as mocker:
        mocker.get(FILE, [{"body": _ResetAfter(CSV, 10), "headers": {"Content-Length": str(len(CSV))}} for _ in range(3)])
        requester = _spooler(url_base=f"{FILE}?api_key=secret")
        with pytest.raises(AirbyteTracedException) as raised:
            requester.send_request(stream_slice=_download_slice({}))

        assert mocker.call_count == 3
    assert raised.value.failure_type == FailureType.transient_error
    assert raised.value.message.startswith(f"Stream s: the export file {FILE} arrived incomplete 3 times; the last time: ProtocolError:")
    assert "secret" not in raised.value.message


def test_a_gzip_file_without_its_trailer_is_downloaded_again_then_fails_naming_the_last_whole_line() -> None:
    lines = b"".join(b'{"id":%d,"pad":"%s"}\n' % (i, b"x" * 40) for i in range(2000))
    whole = gzip.compress(lines)
    cut = whole[: len(whole) // 2]
    with requests_mock.Mocker() as mocker:
        mocker.get(FILE, [{"content": cut}, {"content": whole}])
        response = _spooler(gzip_file=True).send_request(stream_slice=_download_slice({}))
        assert gzip.decompress(response.raw.read()) == lines

        mocker.get(FILE, [{"content": cut}] * 3)
        with pytest.raises(AirbyteTracedException) as raised:
            _spooler(gzip_file=True).send_request(stream_slice=_download_slice({}))
    complete_lines = zlib.decompressobj(wbits=31).decompress(cut).count(b"\n")
    assert 0 < complete_lines < 2000
    assert raised.value.message.endswith(f"_CutShort: the gzip file ends without its trailer after line {complete_lines}.")


def test_a_gzip_file_of_several_members_or_none_is_whole() -> None:
    two_members = gzip.compress(b'{"id":1}\n') + gzip.compress(b'{"id":2}\n')
    with requests_mock.Mocker() as mocker:
        mocker.get(FILE, [{"content": two_members}, {"content": b""}])
        assert _spooler(gzip_file=True).send_request(stream_slice=_download_slice({})).raw.read() == two_members
        assert _spooler(gzip_file=True).send_request(stream_slice=_download_slice({})).raw.read() == b""


# ---------------------------------------------------------------- the per-record fast path


class CountingResponse(requests.Response):
    """A response whose body counts how often it is read."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self._content, self.status_code, self.reads = body, 200, 0

    @property
    def content(self) -> bytes:  # type: ignore[override]
        self.reads += 1
        return self._content


BODIES = [b'{"data": [{"id": 1}, {"id": 2}], "next_cursor": "n"}', b'[{"id": 1}, {"id": 2}]', b"[]", b"{}", b"<html>proxy</html>", b""]


@pytest.mark.parametrize("body", BODIES)
def test_decode_once_gives_the_records_and_next_page_token_the_cdks_json_decoder_gives(body: bytes) -> None:
    def read(decoder: JsonDecoder) -> tuple:
        records = FieldPathExtractor(field_path=["data"], config={}, parameters={}, decoder=decoder).extract_records(CountingResponse(body))
        return list(records), next(decoder.decode(CountingResponse(body)))

    assert read(DecodeOnceJsonDecoder()) == read(JsonDecoder(parameters={}))


def test_a_page_is_parsed_once_for_its_records_and_its_next_page_token() -> None:
    decoder, response = DecodeOnceJsonDecoder(), CountingResponse(BODIES[0])
    records = list(FieldPathExtractor(field_path=["data"], config={}, parameters={}, decoder=decoder).extract_records(response))
    token = next(decoder.decode(response))["next_cursor"]
    assert (records, token, response.reads) == ([{"id": 1}, {"id": 2}], "n", 1)


@pytest.mark.parametrize("body, path", [
    ({"data": [{"id": 1}, {"id": 2}]}, ["data"]), ({"data": {"id": 1}}, ["data"]), ({"data": {}}, ["data"]),
    ({"data": None}, ["data"]), ({"other": [1]}, ["data"]), ({"a": {"b": [{"id": 3}]}}, ["a", "b"]),
    ({"a": [1, 2]}, ["a", "b"]), ({"data": []}, ["{{ parameters['records_path'] }}"]),
])
def test_field_path_extractor_extracts_what_dpath_extractor_extracts(body: dict, path: list) -> None:
    parameters = {"records_path": "data"}

    def extract(extractor_class: type) -> list:
        response = CountingResponse(json.dumps(body).encode())
        return list(extractor_class(field_path=path, config={}, parameters=parameters, decoder=JsonDecoder(parameters={})).extract_records(response))

    assert extract(FieldPathExtractor) == extract(DpathExtractor)


def test_a_plain_selector_selects_the_records_the_cdks_selector_selects() -> None:
    window = StreamSlice(partition={}, cursor_slice={"start_time": "2024-05-01T00:00:00Z", "end_time": "2024-06-01T00:00:00Z"})
    body = {"data": [{"id": 1, "updated_at": "2024-04-30T23:59:59.000Z"}, {"id": 2, "updated_at": "2024-05-01T00:00:00.000Z"}]}

    def select(selector_class: type) -> list:
        selector = selector_class(
            extractor=FieldPathExtractor(field_path=["data"], config={}, parameters={}), config={}, parameters={"name": "s"},
            schema_normalization=TypeTransformer(TransformConfig.NoTransform), name="s", record_filter=_filter(cursor_field="updated_at"),
        )
        records = selector.select_records(CountingResponse(json.dumps(body).encode()), {}, {"type": "object"}, window)
        return [(dict(r.data), r.stream_name, r.associated_slice) for r in records]

    assert select(PlainRecordSelector) == select(RecordSelector) == [({"id": 2, "updated_at": "2024-05-01T00:00:00.000Z"}, "s", window)]


RFC3339 = ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"]


class Window(Partition):
    def __init__(self, start: str, end: str) -> None:
        self._slice = StreamSlice(partition={}, cursor_slice={"start_time": start, "end_time": end})

    def read(self) -> Iterable[Record]:
        return []

    def to_slice(self) -> Optional[Mapping[str, Any]]:
        return self._slice

    def stream_name(self) -> str:
        return "s"

    def is_closed(self) -> bool:
        return False

    def __hash__(self) -> int:
        return id(self)

    def close(self) -> None:
        pass


def cdk_cursor(state: Optional[dict] = None, end: str = "2024-01-10T00:00:00Z", formats: List[str] = RFC3339) -> ConcurrentCursor:
    """The ConcurrentCursor the CDK builds for a one-day-step DatetimeBasedCursor reading `formats`."""
    converter = CustomFormatConcurrentStreamStateConverter("%Y-%m-%dT%H:%M:%SZ", list(formats), True, timedelta(seconds=1))
    at = lambda stamp: datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return ConcurrentCursor("s", None, state or {}, MagicMock(), MagicMock(), converter, CursorField("created_at"),
                            ("start_time", "end_time"), at("2024-01-01T00:00:00Z"), lambda: at(end), slice_range=timedelta(days=1),
                            cursor_granularity=timedelta(seconds=1), is_compare_strictly=True)


VALUES = [
    "2024-01-01T10:00:00.000000Z", "2024-01-01T09:00:00Z", "2024-01-01T11:00:00.5Z", "2024-01-01T06:30:00-05:00",  # 11:30Z
    None, "not a date", "2024-13-01T00:00:00Z", "2024-01-01 12:00:00Z", "2024-01-01T11:00:00,9Z",
]


@pytest.mark.parametrize("values", [VALUES, VALUES[:3], VALUES[4:], list(reversed(VALUES))])
def test_deferred_observation_ends_in_the_state_per_record_observation_gives(values: list) -> None:
    first, second = Window("2024-01-01T00:00:00Z", "2024-01-01T23:59:59Z"), Window("2024-01-02T00:00:00Z", "2024-01-02T23:59:59Z")
    cdk, deferred = cdk_cursor(), DeferredObserveCursor(cdk_cursor(), RFC3339)
    for cursor in (cdk, deferred):
        for value in values:  # the two windows' records interleave, as two threads read them
            cursor.observe(Record(data={"created_at": value}, stream_name="s", associated_slice=first.to_slice()))
            cursor.observe(Record(data={"created_at": "2024-01-02T08:00:00Z"}, stream_name="s", associated_slice=second.to_slice()))
        cursor.close_partition(first)
    assert deferred.state == cdk.state
    for cursor in (cdk, deferred):
        cursor.close_partition(second)
    assert deferred.state == cdk.state == {"created_at": "2024-01-02T08:00:00Z"}


def test_the_fast_comparison_only_takes_the_forms_the_cursor_declares() -> None:
    window = Window("2024-01-01T00:00:00Z", "2024-01-01T23:59:59Z")
    cdk, deferred = cdk_cursor(formats=["%Y-%m-%dT%H:%M:%SZ"]), DeferredObserveCursor(cdk_cursor(formats=["%Y-%m-%dT%H:%M:%SZ"]), ["%Y-%m-%dT%H:%M:%SZ"])
    for cursor in (cdk, deferred):
        cursor.observe(Record(data={"created_at": "2024-01-01T09:00:00Z"}, stream_name="s", associated_slice=window.to_slice()))
        cursor.observe(Record(data={"created_at": "2024-01-01T10:00:00.5Z"}, stream_name="s", associated_slice=window.to_slice()))
        cursor.close_partition(window)
    assert deferred.state == cdk.state == {"created_at": "2024-01-01T09:00:00Z"}  # a fraction is no declared form


class ReportedWindows:
    """Reads the windows of an AdaptiveWindowCursor as the CDK does, one after another, with records per window from `held`."""

    def __init__(self, cursor: AdaptiveWindowCursor, held: Callable[[dict], Optional[int]]) -> None:
        self.cursor, self.held = cursor, held
        WindowReportingRetriever(MagicMock(), cursor)

    def windows(self) -> List[tuple]:
        read = []
        for window in self.cursor.stream_slices():
            read.append((window["start_time"], window["end_time"]))
            self.cursor.window_read(window, self.held(window))
        return read


def adaptive(first: int, records: int = 100, max_steps: int = 365, end: str = "2024-03-01T00:00:00Z") -> AdaptiveWindowCursor:
    return AdaptiveWindowCursor(cdk_cursor(end=end), RFC3339, ("start_time", "end_time"), first, max_steps, records)


def test_empty_windows_grow_fourfold_up_to_the_maximum_and_tile_the_range_to_its_end() -> None:
    windows = ReportedWindows(adaptive(first=1, max_steps=20), lambda window: 0).windows()

    assert windows == [("2024-01-01T00:00:00Z", "2024-01-01T23:59:59Z"), ("2024-01-02T00:00:00Z", "2024-01-05T23:59:59Z"),
                       ("2024-01-06T00:00:00Z", "2024-01-21T23:59:59Z"), ("2024-01-22T00:00:00Z", "2024-02-10T23:59:59Z"),
                       ("2024-02-11T00:00:00Z", "2024-03-01T00:00:00Z")]


@pytest.mark.parametrize("length, records, expected", [
    (30, 0, 120), (30, 10, 120), (30, 100, 30), (30, 200, 15), (30, 6000, 1), (100, 50, 200), (200, 0, 365), (10, None, 10),
])
def test_the_next_window_aims_at_the_records_per_window_at_the_density_just_read(length: int, records: Optional[int], expected: int) -> None:
    assert adaptive(first=1).next_length(length, records) == expected


def test_a_dense_window_is_followed_by_shorter_ones() -> None:
    windows = ReportedWindows(adaptive(first=10, end="2024-01-16T00:00:00Z"), lambda window: 500 if window["start_time"] < "2024-01-11" else 100).windows()

    assert windows == [("2024-01-01T00:00:00Z", "2024-01-10T23:59:59Z"), ("2024-01-11T00:00:00Z", "2024-01-12T23:59:59Z"),
                       ("2024-01-13T00:00:00Z", "2024-01-14T23:59:59Z"), ("2024-01-15T00:00:00Z", "2024-01-16T00:00:00Z")]


def test_windows_start_at_the_state_and_wait_for_each_read() -> None:
    cursor = AdaptiveWindowCursor(cdk_cursor(state={"created_at": "2024-01-05T12:00:00Z"}, end="2024-01-09T00:00:00Z"), RFC3339,
                                  ("start_time", "end_time"), 2, 365, 100)
    WindowReportingRetriever(MagicMock(), cursor)
    windows = iter(cursor.stream_slices())
    first = next(windows)
    assert dict(first) == {"start_time": "2024-01-05T12:00:00Z", "end_time": "2024-01-07T11:59:59Z"}
    waiting = threading.Thread(target=lambda: next(windows))
    waiting.start()
    waiting.join(timeout=0.2)
    assert waiting.is_alive()  # the next window is cut only once this one is read
    cursor.window_read(first, 0)
    waiting.join(timeout=5)
    assert not waiting.is_alive()


def test_adaptive_windows_without_a_reporting_retriever_fail_loudly() -> None:
    with pytest.raises(ValueError, match="need a WindowReportingRetriever"):
        next(iter(adaptive(first=1).stream_slices()))


def test_declared_adaptive_windows_are_whole_steps() -> None:
    declared = AdaptiveWindowCursor.declared(cdk_cursor(), RFC3339, ("start_time", "end_time"), timedelta(days=1),
                                             {"first": "P{{ config['days'] }}D", "max": "P365D", "records": 50000}, {"days": 30})
    assert (declared._first_steps, declared._max_steps, declared._records_per_window) == (30, 365, 50000)
    with pytest.raises(ValueError, match=r"adaptive_windows.first \(PT12H\) must be a whole number of steps"):
        AdaptiveWindowCursor.declared(cdk_cursor(), RFC3339, ("start_time", "end_time"), timedelta(days=1),
                                      {"first": "PT12H", "max": "P365D", "records": 1}, {})


def test_the_reporting_retriever_reports_each_windows_records_or_its_failure() -> None:
    reports = []
    windows = MagicMock(window_read=lambda window, records: reports.append((window, records)))

    def read(schema: Mapping, window: StreamSlice) -> Iterator[dict]:
        yield {"id": 1}
        yield {"id": 2}
        if window == "broken":
            raise RuntimeError("page 2 does not parse")

    retriever = WindowReportingRetriever(MagicMock(read_records=read), windows)
    assert list(retriever.read_records({}, "w1")) == [{"id": 1}, {"id": 2}]
    with pytest.raises(RuntimeError):
        list(retriever.read_records({}, "broken"))
    assert reports == [("w1", 2), ("broken", None)]
# ---------------------------------------------------------------- PausingApiBudget


@pytest.fixture
def manifest_budget() -> PausingApiBudget:
    """The manifest's api_budget as the connector's factory builds it."""
    definition = yaml.safe_load(MANIFEST.read_text())["api_budget"]
    return ContactsComponentFactory().create_component(HTTPAPIBudgetModel, definition, config={})


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The connector's clock stands still: a pause's remaining time is exactly what Retry-After said."""
    monkeypatch.setattr(common, "monotonic", lambda: 1000.0)


def _request(method: str, url: str) -> requests.PreparedRequest:
    return requests.Request(method, url).prepare()


def _answer(status: int, **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    return response


@pytest.mark.usefixtures("frozen_clock")
def test_a_429_retry_after_pauses_its_endpoint_for_every_thread(manifest_budget: PausingApiBudget, sleeps: SleepRecorder) -> None:
    window = _request("GET", f"{COMETLY}/contacts?start_date=2024-01-01")
    manifest_budget.acquire_call(window)
    manifest_budget.update_from_response(window, _answer(429, **{"Retry-After": "5"}))

    other_window = threading.Thread(target=manifest_budget.acquire_call, args=(_request("GET", f"{COMETLY}/contacts?start_date=2025-01-01"),))
    other_window.start()
    other_window.join()
    manifest_budget.acquire_call(_request("POST", f"{COMETLY}/contacts/exports"))  # another endpoint: not paused

    assert sleeps.waits == [5.0]


@pytest.mark.usefixtures("frozen_clock")
def test_a_retry_after_beyond_10_minutes_pauses_nothing_since_the_stream_fails(manifest_budget: PausingApiBudget, sleeps: SleepRecorder) -> None:
    window = _request("GET", f"{COMETLY}/contacts")
    manifest_budget.update_from_response(window, _answer(429, **{"Retry-After": "601"}))

    manifest_budget.acquire_call(window)

    assert sleeps.waits == []


def test_a_call_that_would_wait_more_than_10_minutes_for_budget_fails_saying_when_to_run_again(sleeps: SleepRecorder) -> None:
    once_a_day = MovingWindowCallRatePolicy(rates=[Rate(limit=1, interval=timedelta(days=1))], matchers=[])
    budget = PausingApiBudget(HttpAPIBudget(policies=[once_a_day]))
    contacts = _request("GET", "https://api.cc.email/v3/contacts?limit=500")
    budget.acquire_call(contacts)

    with pytest.raises(AirbyteTracedException) as refused:
        budget.acquire_call(contacts)

    assert refused.value.failure_type == FailureType.transient_error
    assert refused.value.message.startswith(
        "This sync has made all the calls the API allows to https://api.cc.email/v3/contacts for now: the next one would "
        "wait 1 day, 0:00:00, longer than the 10 minutes the connector waits. The sync stops here (the state it saved "
        "stands); run it again after "
    )
    assert sleeps.waits == []


@pytest.mark.parametrize("url", ["https://api.cc.email/v3/contacts", "https://api.constantcontact.com/v2/lists"])
def test_constant_contact_budgets_count_4_calls_a_second_and_10000_a_day(manifest_budget: PausingApiBudget, url: str) -> None:
    policy = str(manifest_budget.get_matching_policy(_request("GET", url)))
    assert "rates=[4 per 0:00:01, 10000 per 1 day, 0:00:00]" in policy
