"""The per-record fast path, records handed to the main thread in batches, and windows that fit the data.

The CDK's generic components are correct for any manifest and pay for it per record; these do the same work for the
shapes this manifest declares, each giving the same records and state as the component it stands in for.
ContactsComponentFactory (cdk_hooks.py) builds them in place of the CDK's."""

import itertools
import re
import threading
from dataclasses import InitVar, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, MutableMapping, Optional, Sequence

import requests
from isodate import parse_duration

from airbyte_cdk.models import AirbyteMessage, AirbyteRecordMessage, Type
from airbyte_cdk.sources.declarative.decoders import Decoder, JsonDecoder
from airbyte_cdk.sources.declarative.extractors.record_extractor import RecordExtractor
from airbyte_cdk.sources.declarative.extractors.record_selector import RecordSelector
from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.declarative.retrievers.async_retriever import AsyncRetriever
from airbyte_cdk.sources.declarative.retrievers.retriever import Retriever
from airbyte_cdk.sources.streams.concurrent.cursor import ConcurrentCursor, Cursor, CursorField
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.streams.core import StreamData
from airbyte_cdk.sources.types import Config, Record, StreamSlice, StreamState

from source_contacts.components.http_handling import json_body_checked

_DECODED_BODY = "_source_contacts_decoded_body"


class DecodeOnceJsonDecoder(JsonDecoder):
    """The CDK's JsonDecoder, decoding each response once.

    A paginated retriever decodes every page twice with the CDK's decoder: once to extract the records and once
    for the paginator's next-page token. Declared as the retriever's `decoder`, this one instance serves both, and
    the first decode is kept on the response. The error handler (JsonAnswerErrorHandler) has already parsed a page
    to check that it is JSON: that parse is the one used.
    """

    def __init__(self, parameters: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(parameters or {})

    def decode(self, response: requests.Response) -> Iterator[MutableMapping[str, Any]]:
        items = getattr(response, _DECODED_BODY, None)
        if items is None:
            body = json_body_checked(response)
            if body:  # what the CDK's decoder makes of a JSON body (a falsy one, such as {} or null, it reads its own way)
                items = body if isinstance(body, list) else [body]
            else:
                items = list(super().decode(response))
            setattr(response, _DECODED_BODY, items)
        yield from items


@dataclass
class FieldPathExtractor(RecordExtractor):
    """DpathExtractor for a path of plain keys, looked up directly instead of walking the whole body with dpath.

    field_path: keys (interpolated once, with the config and $parameters); the value there is a list of records, one
      record (a non-empty object), or absent (no records), as with DpathExtractor.
    """

    field_path: List[str]
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    decoder: Decoder = field(default_factory=lambda: DecodeOnceJsonDecoder(parameters={}))

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._keys = [str(InterpolatedString.create(key, parameters=parameters).eval(self.config)) for key in self.field_path]

    def extract_records(self, response: requests.Response) -> Iterable[MutableMapping[Any, Any]]:
        for body in self.decoder.decode(response):
            extracted: Any = body
            for key in self._keys:
                extracted = extracted.get(key) if isinstance(extracted, Mapping) else None
            if isinstance(extracted, list):
                yield from extracted
            elif extracted:
                yield extracted


class PlainRecordSelector(RecordSelector):
    """RecordSelector for a selector without transformations, schema normalization or file upload.

    The CDK's selector passes every record through a generator per step (filter, transform, normalize) and copies
    it; with nothing to transform or normalize, this one filters and wraps each record in a Record, nothing else.
    ContactsComponentFactory builds it in place of the CDK's when that is all the selector declares.
    """

    @classmethod
    def replacing(cls, selector: RecordSelector, parameters: Mapping[str, Any]) -> "PlainRecordSelector":
        """This selector with `selector`'s extractor, filter and name; `selector` must not transform or normalize."""
        return cls(
            extractor=selector.extractor,
            config=selector.config,
            parameters=parameters,
            schema_normalization=selector.schema_normalization,
            name=selector.name,
            record_filter=selector.record_filter,
            transform_before_filtering=selector.transform_before_filtering,
        )

    def filter_and_transform(
        self,
        all_data: Iterable[Mapping[str, Any]],
        stream_state: StreamState,
        records_schema: Mapping[str, Any],
        stream_slice: Optional[StreamSlice] = None,
        next_page_token: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[Record]:
        if self.record_filter:
            all_data = self.record_filter.filter_records(
                all_data, stream_state=stream_state, stream_slice=stream_slice, next_page_token=next_page_token
            )
        name = self.name
        for data in all_data:
            yield Record(data=data, stream_name=name, associated_slice=stream_slice)


# The RFC 3339 UTC forms that datetime.fromisoformat reads (`Z` dropped) exactly as these formats do.
_WHOLE_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
_FRACTIONS = ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%S.%_msZ")


def _fast_form(datetime_formats: Sequence[str]) -> Optional[Callable[[str], Any]]:
    """A matcher of the `...Z` forms among `datetime_formats` (ASCII digits only), or None if there is none."""
    whole, fraction = _WHOLE_SECONDS in datetime_formats, any(f in datetime_formats for f in _FRACTIONS)
    if not whole and not fraction:
        return None
    seconds = {(True, True): r"(?:\.[0-9]{1,6})?", (False, True): r"\.[0-9]{1,6}", (True, False): ""}[(whole, fraction)]
    return re.compile(rf"[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}{seconds}Z").fullmatch


class DeferredObserveCursor(Cursor):
    """The CDK's ConcurrentCursor, observing each partition's newest record once, when the partition closes.

    ConcurrentCursor.observe hashes the record's slice (a sorted JSON dump and a SHA-256) and parses the cursor
    value with strptime, trying each declared format in turn, for every record; only each partition's newest value
    is kept. Here a value in one of the declared RFC 3339 `...Z` forms is compared by datetime.fromisoformat, per
    partition by the slice's identity; the newest is handed to the ConcurrentCursor when the partition closes, so
    its state is the one per-record observation gives. Any other value (another form, absent, unparseable) goes to
    the ConcurrentCursor at once, as before. Everything else is the ConcurrentCursor's.

    datetime_formats: the formats the cursor reads values in (cursor_datetime_formats and datetime_format).
    """

    def __init__(self, cursor: ConcurrentCursor, datetime_formats: Sequence[str]) -> None:
        self._cursor = cursor
        self._field = cursor.cursor_field.cursor_field_key
        self._fast_form = _fast_form(datetime_formats)
        self._newest: Dict[int, list] = {}  # id(slice) -> [slice, newest datetime, its raw value]

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._cursor.state

    @property
    def cursor_field(self) -> CursorField:
        return self._cursor.cursor_field

    def observe(self, record: Record) -> None:
        if type(record) is RecordBatch:
            for data in record.records:
                self._observe(data, record)
        else:
            self._observe(record.data, record)

    def _observe(self, data: Mapping[str, Any], record: Record) -> None:
        """Observes `data`, which is `record`'s or one of the records of the RecordBatch `record`."""
        value = data.get(self._field)
        if self._fast_form is None or type(value) is not str or not self._fast_form(value):
            self._observe_now(data, record)
            return
        # Each partition is read by one thread; the dict is only ever read and written by key.
        newest = self._newest.get(id(record.associated_slice))
        if newest is not None and len(value) == len(newest[2]) and value <= newest[2]:
            return  # one form, one length: the text sorts as the time does
        try:
            moment = datetime.fromisoformat(value[:-1])
        except ValueError:
            self._observe_now(data, record)
            return
        if newest is None:
            self._newest[id(record.associated_slice)] = [record.associated_slice, moment, value]
        elif moment > newest[1]:
            newest[1], newest[2] = moment, value

    def _observe_now(self, data: Mapping[str, Any], record: Record) -> None:
        """Hands `data` (of `record`, or of the batch `record`) to the ConcurrentCursor as a record of its own."""
        self._cursor.observe(record if data is record.data else Record(data, record.stream_name, record.associated_slice))

    def close_partition(self, partition: Partition) -> None:
        stream_slice = partition.to_slice()
        newest = self._newest.pop(id(stream_slice), None)
        if newest is not None:
            self._cursor.observe(Record(data={self._field: newest[2]}, stream_name=partition.stream_name(), associated_slice=newest[0]))
        self._cursor.close_partition(partition)

    def ensure_at_least_one_state_emitted(self) -> None:
        self._cursor.ensure_at_least_one_state_emitted()

    def should_be_synced(self, record: Record) -> bool:
        return self._cursor.should_be_synced(record)

    def stream_slices(self) -> Iterable[StreamSlice]:
        return self._cursor.stream_slices()

    def get_cursor_datetime_from_state(self, stream_state: Mapping[str, Any]) -> Optional[datetime]:
        return self._cursor.get_cursor_datetime_from_state(stream_state)

    def __getattr__(self, name: str) -> Any:
        # What else a retriever may ask of its cursor (split_request_window, ...) is the ConcurrentCursor's.
        if name == "_cursor":
            raise AttributeError(name)
        return getattr(self._cursor, name)


class AdaptiveWindowCursor(DeferredObserveCursor):
    """Windows that fit the data: each window is sized from the records its predecessor held.

    Each window is a run of the ConcurrentCursor's own windows (its `step`, say one day) merged into one, so the
    windows tile the range exactly as the CDK's do and state is checkpointed as each closes. The first window is
    `first_steps` steps long; after each, the next aims at `records_per_window` records at the density just read,
    growing at most `GROWTH` times at once, between one step and `max_steps`. Windows are read one after another:
    the next is cut when WindowReportingRetriever reports that the last one has been read (or failed).
    """

    GROWTH = 4

    def __init__(
        self,
        cursor: ConcurrentCursor,
        datetime_formats: Sequence[str],
        boundary_fields: Sequence[str],
        first_steps: int,
        max_steps: int,
        records_per_window: int,
    ) -> None:
        super().__init__(cursor, datetime_formats)
        if not 1 <= first_steps or not 1 <= max_steps or records_per_window < 1:
            raise ValueError(f"adaptive windows need positive sizes, not {first_steps}, {max_steps}, {records_per_window}")
        self._start_field, self._end_field = boundary_fields
        self._first_steps = min(first_steps, max_steps)
        self._max_steps = max_steps
        self._records_per_window = records_per_window
        self.is_reported = False  # set by the WindowReportingRetriever that reads this cursor's windows
        self._read = threading.Condition()
        self._records_read: Dict[int, Optional[int]] = {}  # id(window) -> records, None when the read failed

    @classmethod
    def declared(
        cls,
        cursor: ConcurrentCursor,
        datetime_formats: Sequence[str],
        boundary_fields: Sequence[str],
        step: timedelta,
        windows: Mapping[str, Any],
        config: Config,
    ) -> "AdaptiveWindowCursor":
        """From a DatetimeBasedCursor's `$parameters.adaptive_windows`: `first` and `max` (ISO 8601 durations,
        interpolated with the config, whole multiples of the cursor's `step`) and `records` (per window)."""

        def steps(key: str) -> int:
            duration = parse_duration(str(InterpolatedString.create(str(windows[key]), parameters={}).eval(config)))
            count, rest = divmod(duration, step)
            if rest or count < 1:
                raise ValueError(f"adaptive_windows.{key} ({windows[key]}) must be a whole number of steps ({step})")
            return int(count)

        return cls(cursor, datetime_formats, boundary_fields, steps("first"), steps("max"), int(windows["records"]))

    def stream_slices(self) -> Iterable[StreamSlice]:
        if not self.is_reported:
            raise ValueError("adaptive windows need a WindowReportingRetriever: declare them on a stream without a partition router")
        steps = iter(self._cursor.stream_slices())
        length = self._first_steps
        while True:
            run = list(itertools.islice(steps, length))
            if not run:
                return
            window = StreamSlice(
                partition=run[0].partition,
                cursor_slice={self._start_field: run[0].cursor_slice[self._start_field], self._end_field: run[-1].cursor_slice[self._end_field]},
            )
            yield window
            length = self.next_length(length, self._wait_for(window))

    def next_length(self, length: int, records: Optional[int]) -> int:
        """The steps of the window after one of `length` steps that held `records` (None: the read failed)."""
        if records is None:
            return length
        wanted = self.GROWTH * length if records == 0 else round(length * self._records_per_window / records)
        return max(1, min(wanted, self.GROWTH * length, self._max_steps))

    def window_read(self, window: Optional[StreamSlice], records: Optional[int]) -> None:
        """Called by WindowReportingRetriever when the read of `window` ends: its record count, or None if it failed."""
        with self._read:
            self._records_read[id(window)] = records
            self._read.notify_all()

    def _wait_for(self, window: StreamSlice) -> Optional[int]:
        with self._read:
            while id(window) not in self._records_read:
                self._read.wait()
            return self._records_read.pop(id(window))


class WrappingRetriever(Retriever):
    """A retriever that reads through `retriever` and is otherwise it: any other attribute is the wrapped one's."""

    def __init__(self, retriever: Retriever) -> None:
        self._retriever = retriever

    def __getattr__(self, name: str) -> Any:
        if name == "_retriever":
            raise AttributeError(name)
        return getattr(self._retriever, name)


class WindowReportingRetriever(WrappingRetriever):
    """Reads through `retriever` and tells `windows` how many records each window held when its read ends."""

    def __init__(self, retriever: Retriever, windows: AdaptiveWindowCursor) -> None:
        super().__init__(retriever)
        self._windows = windows
        windows.is_reported = True

    def read_records(self, records_schema: Mapping[str, Any], stream_slice: Optional[StreamSlice] = None) -> Iterable[StreamData]:
        records: Optional[int] = None
        try:
            count = 0
            for count, record in enumerate(self._retriever.read_records(records_schema, stream_slice), start=1):
                yield record
            records = count
        finally:
            self._windows.window_read(stream_slice, records)


# The one key of a RecordBatch's data: the records, which RecordBatches.unpacked turns back into messages.
_BATCHED_RECORDS = "_source_contacts_batched_records"


class RecordBatch(Record):
    """Records of one slice crossing the CDK's queue, from the thread that read them to the main thread, as one item."""

    def __init__(self, records: List[Mapping[str, Any]], stream_name: str, associated_slice: Optional[StreamSlice]) -> None:
        super().__init__(data={_BATCHED_RECORDS: records}, stream_name=stream_name, associated_slice=associated_slice)
        self.records = records


class RecordBatches:
    """Hands records from the threads that read them to the main thread that prints them in batches.

    The CDK moves each record from a worker thread to the main thread through its queue, one item per record. Under
    the GIL, two busy threads handing items over one by one spend about as much time switching as working. Here a
    retriever's records go in RecordBatch items (`batched`, on the worker), and the main thread turns each batch's
    message back into one RECORD message per record, in order (`unpacked`, around the source's read). At most
    `in_flight` batches wait between the two while a read runs, so memory stays bounded: the CDK's queue takes up to
    10,000 items, batches or not.

    The stream's cursor sees the batches: it must be a DeferredObserveCursor or the CDK's FinalStateCursor, which
    observes nothing. records_read counts each stream's records as they are unpacked.
    """

    def __init__(self, in_flight: int = 4) -> None:
        self._in_flight = in_flight
        self._slots = threading.Semaphore(in_flight)
        self._reading = False
        self.records_read: Dict[str, int] = {}

    def batched(self, items: Iterable[StreamData], size: int, stream_name: str, stream_slice: Optional[StreamSlice]) -> Iterator[StreamData]:
        """`items` (a retriever's records and messages) with the records in batches of up to `size`, one slice each."""
        batch: List[Mapping[str, Any]] = []
        batch_slice: Optional[StreamSlice] = None
        try:
            for item in items:
                if not isinstance(item, Mapping):  # a message keeps its place among the records
                    if batch:
                        yield self._batch(batch, stream_name, batch_slice)
                        batch = []
                    yield item
                    continue
                item_slice = item.associated_slice if isinstance(item, Record) else stream_slice
                if batch and item_slice is not batch_slice:
                    yield self._batch(batch, stream_name, batch_slice)
                    batch = []
                batch_slice = item_slice
                batch.append(item.data if isinstance(item, Record) else item)
                if len(batch) == size:
                    yield self._batch(batch, stream_name, batch_slice)
                    batch = []
        except Exception:
            if batch:  # the records read before the failure are emitted, as they would be one by one
                yield self._batch(batch, stream_name, batch_slice)
            raise
        if batch:
            yield self._batch(batch, stream_name, batch_slice)

    def _batch(self, records: List[Mapping[str, Any]], stream_name: str, stream_slice: Optional[StreamSlice]) -> RecordBatch:
        # Waits for a slot only while a read unpacks batches (check and discover read partitions directly).
        while self._reading and not self._slots.acquire(timeout=1.0):
            pass
        return RecordBatch(records, stream_name, stream_slice)

    def unpacked(self, messages: Iterable[AirbyteMessage]) -> Iterator[AirbyteMessage]:
        """`messages` with each batch's message replaced by one RECORD message per record."""
        self._slots = threading.Semaphore(self._in_flight)
        self.records_read = {}
        self._reading = True
        try:
            for message in messages:
                record = message.record
                if message.type is not Type.RECORD or _BATCHED_RECORDS not in record.data:  # type: ignore[union-attr]
                    yield message
                    continue
                self._slots.release()
                batch = record.data[_BATCHED_RECORDS]  # type: ignore[union-attr]
                stream, emitted_at = record.stream, record.emitted_at  # type: ignore[union-attr]
                self.records_read[stream] = self.records_read.get(stream, 0) + len(batch)
                for data in batch:
                    yield AirbyteMessage(type=Type.RECORD, record=AirbyteRecordMessage(stream=stream, data=data, emitted_at=emitted_at))
        finally:
            self._reading = False  # a worker still reading never waits for a slot again


class BatchingRetriever(WrappingRetriever):
    """Reads through `retriever`, handing its records on in RecordBatches of up to `size`."""

    def __init__(self, retriever: Retriever, batches: RecordBatches, size: int, stream_name: str) -> None:
        super().__init__(retriever)
        self._batches = batches
        self._size = size
        self._stream_name = stream_name

    def read_records(self, records_schema: Mapping[str, Any], stream_slice: Optional[StreamSlice] = None) -> Iterable[StreamData]:
        records = self._retriever.read_records(records_schema, stream_slice)
        return self._batches.batched(records, self._size, self._stream_name, stream_slice)


@dataclass
class BatchingAsyncRetriever(AsyncRetriever):
    """An AsyncRetriever handing its records on in RecordBatches of up to `records_per_batch` (the CDK's stream factory
    treats an AsyncRetriever apart, so this one is one rather than wrapping one)."""

    batches: Optional[RecordBatches] = None
    records_per_batch: int = 0
    stream_name: str = ""

    def read_records(self, records_schema: Mapping[str, Any], stream_slice: Optional[StreamSlice] = None) -> Iterable[StreamData]:
        records = super().read_records(records_schema, stream_slice)
        if self.batches is None or self.records_per_batch < 1:
            return records
        return self.batches.batched(records, self.records_per_batch, self.stream_name, stream_slice)
