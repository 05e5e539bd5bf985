"""What the providers' components share: naming a slice in error messages, the export record filter, UTC date-times,
export files downloaded whole before they are decoded, the HTTP behaviour the CDK's declarative components cannot say
(bodies that are not JSON, hosts that cannot be reached, Retry-After that holds for every thread, a cap on any wait),
the per-record fast path (decoding, extraction, selection, cursor observation) and windows that fit the data."""

import itertools
import json
import logging
import re
import socket
import tempfile
import threading
import time
import zlib
from dataclasses import InitVar, dataclass, field
from datetime import datetime, timedelta, timezone
from time import monotonic
from typing import IO, Any, Callable, Dict, Iterable, Iterator, List, Mapping, MutableMapping, Optional, Sequence, Union
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

import orjson
import requests
from isodate import parse_duration
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.exceptions import HTTPError as TransferError
from urllib3.exceptions import SSLError as TlsError

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.decoders import Decoder, JsonDecoder
from airbyte_cdk.sources.declarative.extractors.record_extractor import RecordExtractor
from airbyte_cdk.sources.declarative.extractors.dpath_extractor import DpathExtractor
from airbyte_cdk.sources.declarative.extractors.record_filter import RecordFilter
from airbyte_cdk.sources.declarative.extractors.record_selector import RecordSelector
from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.declarative.requesters.error_handlers.default_error_handler import DefaultErrorHandler
from airbyte_cdk.sources.declarative.requesters.http_requester import HttpRequester
from airbyte_cdk.sources.declarative.requesters.request_options.interpolated_request_options_provider import (
    InterpolatedRequestOptionsProvider,
)
from airbyte_cdk.sources.declarative.retrievers.retriever import Retriever
from airbyte_cdk.sources.streams.concurrent.cursor import ConcurrentCursor, Cursor, CursorField
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.streams.core import StreamData
from airbyte_cdk.sources.streams.call_rate import AbstractAPIBudget, AbstractCallRatePolicy, CallRateLimitHit
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction
from airbyte_cdk.sources.types import Config, Record, StreamSlice, StreamState
from airbyte_cdk.utils.mapping_helpers import get_interpolation_context
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

logger = logging.getLogger("airbyte")

# The forms date-times come in: both CSV forms (`2018-11-29 15:10:15 -0500`, `2019-11-25T16:29:13.057 -0500`), RFC 3339.
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(Z|z|[+-]\d{2}:?\d{2})?"
)
_UTC = timezone.utc
_OFFSETS: Dict[str, timedelta] = {}
_DOWNLOAD_CHUNK = 1 << 18  # a gzip chunk inflates about tenfold while it is checked
LOGGER = logging.getLogger("airbyte")
# No single wait is longer: a Retry-After beyond it fails the stream (the manifest's retry_after_too_long filter
# says the same number), and so does a budget that would need longer.
LONGEST_WAIT_SECONDS = 600


def slice_location(stream_slice: Optional[StreamSlice]) -> Dict[str, Any]:
    """`{'start_time': ..., 'end_time': ...}` for a window, `{'list_id': ...}` for a list; {} without a slice."""
    if stream_slice is None:
        return {}
    return dict(stream_slice.cursor_slice or stream_slice.partition)


def to_rfc3339(value: str) -> Optional[str]:
    """A date-time as fixed-width UTC RFC 3339 (`2018-11-29T20:10:15.000Z`); empty -> None; else ValueError."""
    if not value:
        return None
    if len(value) > 6 and value[-6] == " " and value[-5] in "+-":
        # Both CSV forms end in ` -0500`: the wall time, read naive, minus its offset is UTC (the fast path: a few
        # of these per row make most of a CSV row's cost).
        offset = _OFFSETS.get(value[-5:])
        if offset is None:
            offset = _offset(value[-5:])
        try:
            local = datetime.fromisoformat(value[:-6])
        except ValueError:
            local = None
        if offset is not None and local is not None and local.tzinfo is None:
            return (local - offset).isoformat(timespec="milliseconds") + "Z"
    return _parse_datetime(value).astimezone(_UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _offset(text: str) -> Optional[timedelta]:
    """`-0500` as a timedelta (kept for the next value); None if it is not one."""
    if not text[1:].isdigit():
        return None
    offset = (-1 if text[0] == "-" else 1) * timedelta(hours=int(text[1:3]), minutes=int(text[3:]))
    return _OFFSETS.setdefault(text, offset)


def _parse_datetime(value: str) -> datetime:
    """Any form `_DATETIME` accepts, as an aware datetime; else ValueError."""
    match = _DATETIME.fullmatch(value.strip())
    if match is None:
        raise ValueError(value)
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=_UTC)
    if offset and offset not in ("Z", "z"):
        # A naive time is read as UTC: no API here writes one, and guessing a zone would be worse.
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment


@dataclass
class ExportSliceRecordFilter(RecordFilter):
    """Copies the slice's partition fields into each export record and keeps records at or after the slice start.

    partition_fields: partition keys copied into every record (v2: list_id).
    cursor_field: a fixed-width UTC RFC 3339 field compared with the slice start, at one-second granularity
      because one of the CSV date forms has no fraction; records without a value are kept (nothing is lost).
    slice_start_field: the cursor slice key holding the lower bound.
    A CSV failure raised while reading gets the slice added to its message.
    """

    parameters: InitVar[Mapping[str, Any]]
    partition_fields: List[str] = field(default_factory=list)
    cursor_field: str = ""
    slice_start_field: str = "start_time"

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = parameters.get("name", "")

    def filter_records(
        self,
        records: Iterable[Mapping[str, Any]],
        stream_state: StreamState,
        stream_slice: Optional[StreamSlice] = None,
        next_page_token: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[Mapping[str, Any]]:
        partition = stream_slice.partition if stream_slice else {}
        extra = {name: partition[name] for name in self.partition_fields}
        floor = self._floor(stream_slice)
        cursor_field = self.cursor_field
        try:
            for record in records:
                if floor and (record.get(cursor_field) or floor) < floor:
                    continue
                if extra:
                    record.update(extra)  # type: ignore[attr-defined]  # the CSV decoder yields fresh dicts
                yield record
        except AirbyteTracedException as error:
            message = f"{error.message} Slice: {slice_location(stream_slice)}."
            raise AirbyteTracedException(message=message, internal_message=message, failure_type=error.failure_type) from error

    def _floor(self, stream_slice: Optional[StreamSlice]) -> str:
        """The slice start truncated to the second, in the decoder's `YYYY-MM-DDTHH:MM:SS` prefix form."""
        if not self.cursor_field or not stream_slice:
            return ""
        start = stream_slice.cursor_slice.get(self.slice_start_field) or ""
        return str(start)[:19].replace(" ", "T")


class _CutShort(Exception):
    """The file ended before its end: fewer bytes than Content-Length, or a gzip file without its trailer."""


class _GzipEnd:
    """Inflates a gzip body as it arrives, only to see that it ends with its trailer (CRC and length checked),
    member after member, counting the complete lines before a cut."""

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj(wbits=31)
        self._started = False
        self.lines = 0

    def feed(self, chunk: bytes) -> None:
        while chunk:
            self._started = True
            self.lines += self._inflate.decompress(chunk).count(b"\n")
            if not self._inflate.eof:
                return
            chunk = self._inflate.unused_data  # a next member starts here
            if chunk:
                self._inflate = zlib.decompressobj(wbits=31)

    def check(self) -> None:
        if self._started and not self._inflate.eof:
            raise _CutShort(f"the gzip file ends without its trailer after line {self.lines}")


def expected_records(response: requests.Response) -> Optional[int]:
    """The record count the API reported for a file SpooledDownloadRequester downloaded; None when it reports none."""
    return getattr(response, "expected_records", None)


@dataclass
class SpooledDownloadRequester(HttpRequester):
    """Downloads an export file whole into a temporary file, checked complete, before a record of it is decoded.

    The decoder then reads the file from disk, so a download cut in the middle of the body (the connection reset:
    urllib3 ProtocolError; a read timeout) starts again without a record read twice or lost: `max_attempts`
    downloads, then the stream fails naming the file. Complete means as many bytes as Content-Length (or the chunked
    framing) says and, for a gzip file, its trailer. The file is streamed to disk, never held in memory.

    request_headers: the request headers (the factory builds them for an HttpRequester, not for a custom one).
    expected_records: interpolated, the number of records the API reports for the file (`polling_response` is the
      completed job's status; use .get() so that a status without it means no count); handed to the decoder as
      `response.expected_records` (see expected_records()).
    gzip_file: the body is a gzip file: kept compressed, checked to its trailer.
    max_attempts: downloads of one file before the stream fails; `retry_wait_seconds` before the second, doubling.
    """

    request_headers: Mapping[str, str] = field(default_factory=dict)
    expected_records: str = ""
    gzip_file: bool = False
    max_attempts: int = 3
    retry_wait_seconds: float = 2.0

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        if self.request_headers:
            self.request_options_provider = InterpolatedRequestOptionsProvider(
                config=self.config, request_headers=self.request_headers, parameters=parameters
            )
        self.stream_response = True  # the body goes to disk in chunks
        super().__post_init__(parameters)
        self._stream = parameters.get("name", self.name)
        self._expected = InterpolatedString.create(self.expected_records, parameters=parameters)

    def send_request(  # type: ignore[override]  # every CDK caller passes keywords
        self, stream_state: Optional[StreamState] = None, stream_slice: Optional[StreamSlice] = None, **kwargs: Any
    ) -> Optional[requests.Response]:
        attempt = 1
        while True:
            response = super().send_request(stream_state=stream_state, stream_slice=stream_slice, **kwargs)
            if response is None or not response.ok:
                return response  # an answer the error handler let through (an ignored 403) is the caller's
            try:
                body = self._spool(response)
                break
            except (_CutShort, TransferError, requests.RequestException, zlib.error) as error:
                source, reason = response.url.split("?", 1)[0], f"{type(error).__name__}: {error}"  # no key, no signature
                if attempt >= self.max_attempts:
                    # The slice is added by ExportSliceRecordFilter, which the failure passes on its way out.
                    message = f"Stream {self._stream}: the export file {source} arrived incomplete {attempt} times; the last time: {reason}."
                    raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.transient_error)
                self.logger.info(f"Stream {self._stream}: the export file {source} arrived incomplete ({reason}); downloading it again.")
                time.sleep(self.retry_wait_seconds * 2 ** (attempt - 1))
                attempt += 1
        response.raw = body
        count = self._expected.eval(self.config, **get_interpolation_context(stream_slice=stream_slice))
        response.expected_records = None if count in (None, "") else int(count)  # type: ignore[attr-defined]
        return response

    def _spool(self, response: requests.Response) -> IO[bytes]:
        """The body in a temporary file (deleted when closed), rewound; _CutShort (or the transfer's error) if it is not whole."""
        spool = tempfile.TemporaryFile()
        gzip_end = _GzipEnd() if self.gzip_file else None
        try:
            with response:  # gives the connection back, whatever happens
                for chunk in response.raw.stream(_DOWNLOAD_CHUNK, decode_content=not self.gzip_file):
                    spool.write(chunk)
                    if gzip_end:
                        gzip_end.feed(chunk)
                length, received = response.headers.get("Content-Length"), response.raw.tell()
            if length is not None and received != int(length):
                raise _CutShort(f"{received} of {length} bytes")
            if gzip_end:
                gzip_end.check()
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool


# ================================================================ the per-record fast path
# The CDK's generic components are correct for any manifest and pay for it per record; these do the same work for
# the shapes this manifest declares. Each one gives the same records and state as the component it stands in for.

_DECODED_BODY = "_source_contacts_decoded_body"


class DecodeOnceJsonDecoder(JsonDecoder):
    """The CDK's JsonDecoder (orjson, then json; {} for a body that does not parse), decoding each response once.

    A paginated retriever decodes every page twice with the CDK's decoder: once to extract the records and once
    for the paginator's next-page token. Declared as the retriever's `decoder`, this one instance serves both, and
    the first decode is kept on the response.
    """

    def __init__(self, parameters: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(parameters or {})

    def decode(self, response: requests.Response) -> Iterator[MutableMapping[str, Any]]:
        items = getattr(response, _DECODED_BODY, None)
        if items is None:
            items = self._parse(response.content)
            setattr(response, _DECODED_BODY, items)
        yield from items

    @staticmethod
    def _parse(content: bytes) -> List[Any]:
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError:
            try:
                body = json.loads(content.decode("utf-8"))
            except ValueError as error:
                logger.error(f"Failed to parse JSON data using json library. {error}")
                return [{}]
        items = body if isinstance(body, list) else [body]
        return items or [{}]


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


# ---------------------------------------------------------------- cursors

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
        value = record.data.get(self._field)
        if self._fast_form is None or type(value) is not str or not self._fast_form(value):
            self._cursor.observe(record)
            return
        try:
            moment = datetime.fromisoformat(value[:-1])
        except ValueError:
            self._cursor.observe(record)
            return
        # Each partition is read by one thread; the dict is only ever read and written by key.
        newest = self._newest.get(id(record.associated_slice))
        if newest is None:
            self._newest[id(record.associated_slice)] = [record.associated_slice, moment, value]
        elif moment > newest[1]:
            newest[1], newest[2] = moment, value

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


class WindowReportingRetriever(Retriever):
    """Reads through `retriever` and tells `windows` how many records each window held when its read ends."""

    def __init__(self, retriever: Retriever, windows: AdaptiveWindowCursor) -> None:
        self._retriever = retriever
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

    def __getattr__(self, name: str) -> Any:
        if name == "_retriever":
            raise AttributeError(name)
        return getattr(self._retriever, name)
@dataclass
class JobStatusExtractor(DpathExtractor):
    """The status of an export job (a DpathExtractor on its status poll) that logs the reasons the job gives under
    `reasons_field` (Constant Contact's activity errors, Cometly's error): a failed job then says why, such as a list
    id the account does not have."""

    reasons_field: str = ""

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        self._stream = parameters.get("name", "")

    def extract_records(self, response: requests.Response) -> Iterable[MutableMapping[Any, Any]]:
        body = response.json()
        reasons = body.get(self.reasons_field) if isinstance(body, Mapping) else None
        if reasons:  # logged first: the CDK reads only the first status
            reasons = reasons if isinstance(reasons, list) else [reasons]
            text = "; ".join(str(r.get("message", r)) if isinstance(r, Mapping) else str(r) for r in reasons)
            LOGGER.warning(f"Stream {self._stream}: the export job at {public_url(response.url)} reports: {text}")
        return super().extract_records(response)


def public_url(url: str) -> str:
    """`url` without its query, fragment and user info: what a message may show (v2 puts api_key in the query)."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1], query="", fragment="").geturl()


def utc_after(seconds: float) -> str:
    """The UTC time `seconds` from now, to the minute: `2024-03-21 12:05 UTC`."""
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M UTC")


def why_not_json(response: requests.Response) -> Optional[str]:
    """Why the body of `response` is not UTF-8 JSON (empty, a proxy's HTML page, cut, bad bytes), or None when it is."""
    body = response.content
    if not body.strip():
        return "the body is empty"
    try:
        orjson.loads(body)  # strict: invalid UTF-8 fails too, where a lenient decoder would read U+FFFD
        return None
    except orjson.JSONDecodeError as error:
        kind = response.headers.get("Content-Type", "no Content-Type")
        return f"{kind} body of {len(body)} bytes starting {body[:40]!r}: {error}"


@dataclass
class JsonAnswerErrorHandler(DefaultErrorHandler):
    """The CDK's DefaultErrorHandler judging a 2xx answer by its body: a request that asked for JSON
    (`Accept: application/json`) must get UTF-8 JSON back, else it is retried and, once retries are spent, the
    stream fails naming the URL. (The CDK's JSON decoder reads such a page as {}: the stream would end quietly
    with the rest of its pages missing.)

    Other 2xx answers succeed without going through `response_filters`, so a filter's body predicate only ever
    parses an error body, never a page of records nor a streamed download.
    """

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        self._stream = parameters.get("name", "")

    def interpret_response(self, response_or_exception: Optional[Union[requests.Response, Exception]]) -> ErrorResolution:
        response = response_or_exception
        if not isinstance(response, requests.Response) or not response.ok:
            return super().interpret_response(response_or_exception)
        problem = "application/json" in response.request.headers.get("Accept", "") and why_not_json(response)
        if not problem:
            return ErrorResolution(response_action=ResponseAction.SUCCESS)
        message = f"Stream {self._stream}: {public_url(response.url)} answered HTTP {response.status_code} with a page that is not JSON ({problem})."
        return ErrorResolution(response_action=ResponseAction.RETRY, failure_type=FailureType.transient_error, error_message=message)


def why_unreachable(error: Any) -> Optional[str]:
    """Why a request never reached its server (DNS, refused, connect timeout, TLS), or None for any other outcome."""
    if not isinstance(error, requests.exceptions.ConnectionError):
        return None
    reason = getattr(error.args[0], "reason", None) if error.args else None
    if isinstance(reason, NameResolutionError):
        return "its name does not resolve"
    if isinstance(reason, NewConnectionError):
        return f"the connection failed: {str(reason).rsplit('] ', 1)[-1]}"
    if isinstance(reason, ConnectTimeoutError) or isinstance(error, requests.exceptions.ConnectTimeout):
        return "the connection timed out"
    if isinstance(reason, TlsError) or isinstance(error, requests.exceptions.SSLError):
        return "the TLS handshake failed"
    return None


def why_host_unreachable(url: str) -> Optional[str]:
    """Why the host of `url` takes no TCP connection within 5 s (DNS, refused, timeout), or None when it does."""
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)), timeout=5).close()
        return None
    except socket.gaierror:
        return "its name does not resolve"
    except socket.timeout:
        return "the connection timed out"
    except OSError as error:
        return f"the connection failed: {error.strerror or error}"


@dataclass
class UnreachableHostBackoff(BackoffStrategy):
    """Fails a request that cannot reach its host once it has tried for `give_up_after_seconds`, naming the host.

    Waits between attempts stay the CDK's (this strategy returns None): those retries are logged as errors,
    never as rate limits, which a backoff strategy's waits would be. Put it first in `backoff_strategies`.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    give_up_after_seconds: float = 30

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = parameters.get("name", "")
        self._first_failures: MutableMapping[requests.PreparedRequest, float] = WeakKeyDictionary()

    def backoff_time(self, response_or_exception: Any, attempt_count: int) -> Optional[float]:
        why = why_unreachable(response_or_exception)
        if why is None:
            return None
        request = response_or_exception.request
        trying_for = monotonic() - self._first_failures.setdefault(request, monotonic())
        if trying_for >= self.give_up_after_seconds:
            host = urlsplit(request.url).netloc.rsplit("@", 1)[-1]
            message = (
                f"Stream {self._stream}: could not reach {host} ({why}) in {attempt_count} attempts over "
                f"{trying_for:.0f} s. Check the host in the config (api_url, token_url) and that this network can reach it."
            )
            raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.transient_error)
        return None


class PausingApiBudget(AbstractAPIBudget):
    """An API budget (the manifest's HTTPAPIBudget) where a 429's Retry-After pauses the endpoint it matched for
    every thread, and where no call waits longer than LONGEST_WAIT_SECONDS for budget.

    The CDK's budget reads a 429 as "window full" (or not at all), whatever Retry-After says, and otherwise
    waits as long as the budget needs: a day, once this sync has spent Constant Contact's 10,000 calls a day.
    """

    def __init__(self, budget: AbstractAPIBudget) -> None:
        self._budget = budget
        self._paused_until: Dict[int, float] = {}  # id(policy) -> monotonic time
        self._lock = threading.Lock()

    def get_matching_policy(self, request: Any) -> Optional[AbstractCallRatePolicy]:
        return self._budget.get_matching_policy(request)

    def acquire_call(self, request: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        policy = self.get_matching_policy(request)
        if policy is not None:
            pause = self._paused_until.get(id(policy), 0.0) - monotonic()
            if pause > 0:
                time.sleep(pause)
        try:
            self._budget.acquire_call(request, block=False)
        except CallRateLimitHit as hit:
            wait = hit.time_to_wait.total_seconds()
            if wait > LONGEST_WAIT_SECONDS:
                message = (
                    f"This sync has made all the calls the API allows to {public_url(request.url)} for now: the next one would "
                    f"wait {timedelta(seconds=round(wait))}, longer than the {LONGEST_WAIT_SECONDS // 60} minutes the connector waits. "
                    f"The sync stops here (the state it saved stands); run it again after {utc_after(wait)}."
                )
                raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.transient_error) from hit
            self._budget.acquire_call(request, block=block, timeout=timeout)

    def update_from_response(self, request: Any, response: Any) -> None:
        self._budget.update_from_response(request, response)
        policy = self.get_matching_policy(request)
        if policy is None or getattr(response, "status_code", None) != 429:
            return
        retry_after = str(response.headers.get("Retry-After", ""))
        if retry_after.isdigit() and 0 < int(retry_after) <= LONGEST_WAIT_SECONDS:
            with self._lock:
                until = monotonic() + int(retry_after)
                self._paused_until[id(policy)] = max(until, self._paused_until.get(id(policy), 0.0))
