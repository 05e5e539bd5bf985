"""components/fast_path.py: the per-record fast path and adaptive windows, each against the CDK component it stands in
for."""

import itertools
import json
import queue
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional
from unittest.mock import MagicMock

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from airbyte_cdk.sources.declarative.decoders import JsonDecoder
from airbyte_cdk.sources.declarative.extractors.dpath_extractor import DpathExtractor
from airbyte_cdk.sources.declarative.extractors.record_selector import RecordSelector
from airbyte_cdk.sources.streams.concurrent.cursor import ConcurrentCursor, CursorField
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.streams.concurrent.state_converters.datetime_stream_state_converter import (
    CustomFormatConcurrentStreamStateConverter,
)
from airbyte_cdk.sources.types import Record, StreamSlice
from airbyte_cdk.sources.utils.transform import TransformConfig, TypeTransformer

from source_contacts.components.common import ExportSliceRecordFilter
from airbyte_cdk.models import AirbyteLogMessage, AirbyteMessage, AirbyteRecordMessage, Level, Type

from source_contacts.components.fast_path import (
    AdaptiveWindowCursor,
    DecodeOnceJsonDecoder,
    DeferredObserveCursor,
    FieldPathExtractor,
    PlainRecordSelector,
    RecordBatch,
    RecordBatches,
    WindowReportingRetriever,
)
from source_contacts.components.http_handling import why_not_json

class CountingResponse(requests.Response):
    """A response whose body counts how often it is read."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self._content, self.status_code, self.reads = body, 200, 0

    @property
    def content(self) -> bytes:  # type: ignore[override]
        self.reads += 1
        return self._content


BODIES = [b'{"data": [{"id": 1}, {"id": 2}], "next_cursor": "n"}', b'[{"id": 1}, {"id": 2}]', b"[]", b"{}", b"<html>proxy</html>", b"",
          b"null", b'"text"', b"0", b"[{}]"]


@pytest.mark.parametrize("body", BODIES)
def test_decode_once_gives_the_records_and_next_page_token_the_cdks_json_decoder_gives(body: bytes) -> None:
    def read(decoder: JsonDecoder, checked: bool = False) -> tuple:
        responses = [CountingResponse(body), CountingResponse(body)]
        for response in responses if checked else ():
            why_not_json(response)  # as the error handler does first, keeping its parse
        records = FieldPathExtractor(field_path=["data"], config={}, parameters={}, decoder=decoder).extract_records(responses[0])
        return list(records), next(decoder.decode(responses[1]))

    assert read(DecodeOnceJsonDecoder()) == read(DecodeOnceJsonDecoder(), checked=True) == read(JsonDecoder(parameters={}))


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
            schema_normalization=TypeTransformer(TransformConfig.NoTransform), name="s", record_filter=ExportSliceRecordFilter(parameters={"name": "s"}, config={}, cursor_field="updated_at"),
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


MOMENTS = st.builds(
    lambda day, second, fraction: f"2024-01-0{day}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}{fraction}Z",
    st.integers(1, 2), st.integers(0, 86399), st.sampled_from(["", ".5", ".50", ".123", ".999999", ".000000"]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(MOMENTS, st.sampled_from([None, "not a date", "2024-01-01T10:00:00+00:00"])), min_size=1, max_size=30),
       st.integers(1, 7))
def test_observing_batches_ends_in_the_state_per_record_observation_gives(values: list, size: int) -> None:
    window = Window("2024-01-01T00:00:00Z", "2024-01-02T23:59:59Z")
    cdk, deferred = cdk_cursor(), DeferredObserveCursor(cdk_cursor(), RFC3339)
    for value in values:
        cdk.observe(Record(data={"created_at": value}, stream_name="s", associated_slice=window.to_slice()))
    for start in range(0, len(values), size):
        deferred.observe(RecordBatch([{"created_at": value} for value in values[start:start + size]], "s", window.to_slice()))
    for cursor in (cdk, deferred):
        cursor.close_partition(window)
    assert deferred.state == cdk.state


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


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@settings(max_examples=60, deadline=None)
@given(
    first=st.integers(1, 60), max_steps=st.integers(1, 400), records_per_window=st.integers(1, 100_000),
    days=st.integers(1, 800), end_second=st.integers(0, 86_399),
    held=st.lists(st.one_of(st.none(), st.integers(0, 500_000)), min_size=1, max_size=40),
)
def test_adaptive_windows_tile_the_range_in_whole_days_sized_as_declared_whatever_the_densities(
    first: int, max_steps: int, records_per_window: int, days: int, end_second: int, held: List[Optional[int]]
) -> None:
    end = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(days=days, seconds=end_second)
    cursor = AdaptiveWindowCursor(cdk_cursor(end=end.strftime("%Y-%m-%dT%H:%M:%SZ")), RFC3339, ("start_time", "end_time"),
                                  first, max_steps, records_per_window)
    counts = itertools.cycle(held)
    windows = [(_at(start), _at(stop)) for start, stop in ReportedWindows(cursor, lambda window: next(counts)).windows()]

    assert windows[0][0] == datetime(2024, 1, 1, tzinfo=timezone.utc) and windows[-1][1] == end
    for (_, stop), (start, _) in zip(windows, windows[1:]):
        assert start == stop + timedelta(seconds=1)  # no gap, no overlap
    expected_steps, reported = min(first, max_steps), itertools.cycle(held)
    for start, stop in windows[:-1]:  # every window but the last is whole days, as many as the rule says
        assert stop - start == timedelta(days=expected_steps, seconds=-1)
        expected_steps = cursor.next_length(expected_steps, next(reported))
        assert 1 <= expected_steps <= max_steps
    assert windows[-1][1] - windows[-1][0] <= timedelta(days=expected_steps)  # the CDK ends the last one at the end


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


# ---- RecordBatches: records cross to the main thread in batches, and come out one message each, in order


def log(text: str) -> AirbyteMessage:
    return AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=Level.INFO, message=text))


def as_messages(items: Iterable[Any]) -> Iterator[AirbyteMessage]:
    """What the CDK's main thread makes of a partition's items: one RECORD message per Record, other messages as they are."""
    for item in items:
        if isinstance(item, Record):
            yield AirbyteMessage(type=Type.RECORD, record=AirbyteRecordMessage(stream=item.stream_name, data=dict(item.data), emitted_at=1))
        else:
            yield item


def test_records_go_in_batches_of_the_size_asked_one_slice_each_and_messages_keep_their_place() -> None:
    first, second = StreamSlice(partition={}, cursor_slice={"w": 1}), StreamSlice(partition={}, cursor_slice={"w": 2})
    items = [*(Record({"id": n}, "s", first) for n in range(5)), log("page"), *(Record({"id": n}, "s", second) for n in range(5, 8))]

    batched = list(RecordBatches().batched(iter(items), 2, "s", first))

    shapes = [[r["id"] for r in item.records] if isinstance(item, RecordBatch) else item.log.message for item in batched]
    assert shapes == [[0, 1], [2, 3], [4], "page", [5, 6], [7]]
    assert [item.associated_slice for item in batched if isinstance(item, RecordBatch)] == [first, first, first, second, second]


def test_plain_mappings_are_batched_with_the_slice_read() -> None:
    window = StreamSlice(partition={}, cursor_slice={"w": 1})
    [batch] = RecordBatches().batched(iter([{"id": 1}, {"id": 2}]), 10, "s", window)
    assert batch.records == [{"id": 1}, {"id": 2}] and batch.associated_slice is window and batch.stream_name == "s"


def test_the_records_read_before_a_failure_go_out_before_it() -> None:
    def failing() -> Iterator[Record]:
        yield Record({"id": 1}, "s", None)
        yield Record({"id": 2}, "s", None)
        raise ConnectionError("page 2")

    batches = RecordBatches().batched(failing(), 500, "s", None)
    assert next(batches).records == [{"id": 1}, {"id": 2}]
    with pytest.raises(ConnectionError, match="page 2"):
        next(batches)


def test_unpacking_gives_one_message_per_record_in_order_and_counts_them() -> None:
    batches = RecordBatches()
    items = [Record({"id": n}, "s", None) for n in range(7)] + [log("done")] + [Record({"id": 7}, "t", None)]
    one_by_one = [m.record.data if m.record else m.log.message for m in as_messages(items)]

    unpacked = list(batches.unpacked(as_messages(batches.batched(iter(items[:8]), 3, "s", None))))
    unpacked += list(batches.unpacked(as_messages(items[8:])))  # a stream without batches passes as it is

    assert [m.record.data if m.record else m.log.message for m in unpacked] == one_by_one
    assert all(m.record.stream == "s" for m in unpacked[:7])
    assert batches.records_read == {}  # counted per read: the second read had no batches
    reader = RecordBatches()
    list(reader.unpacked(as_messages(reader.batched(iter(items[:7]), 3, "s", None))))
    assert reader.records_read == {"s": 7}


def test_at_most_in_flight_batches_wait_for_the_main_thread_during_a_read() -> None:
    batches = RecordBatches(in_flight=2)
    made: List[RecordBatch] = []
    handed: "queue.Queue[Any]" = queue.Queue()

    def worker() -> None:  # a partition reader putting each batch on the CDK's queue
        for batch in batches.batched(iter([Record({"id": n}, "s", None) for n in range(10)]), 1, "s", None):
            made.append(batch)
            handed.put(batch)
        handed.put(None)

    def main_thread() -> Iterator[AirbyteMessage]:
        thread = threading.Thread(target=worker, daemon=True)
        thread.start()
        while (item := handed.get()) is not None:
            yield from as_messages([item])
        thread.join()

    unpacked = batches.unpacked(main_thread())
    first = next(unpacked)  # the main thread took one batch: the worker may have made two more, no more
    deadline = time.monotonic() + 2
    while len(made) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert len(made) == 3
    assert [first.record.data["id"]] + [m.record.data["id"] for m in unpacked] == list(range(10))


def test_outside_a_read_nothing_waits_for_slots() -> None:
    batches = RecordBatches(in_flight=1)
    assert len(list(batches.batched(iter([Record({"id": n}, "s", None) for n in range(5)]), 1, "s", None))) == 5


def test_a_page_checked_as_json_is_not_parsed_again() -> None:
    response = CountingResponse(b'{"data": [{"id": 1}], "next_cursor": "n"}')
    assert why_not_json(response) is None
    parses = response.reads
    decoder = DecodeOnceJsonDecoder()
    assert list(decoder.decode(response)) == [{"data": [{"id": 1}], "next_cursor": "n"}]
    assert response.reads == parses  # the body was not read again
