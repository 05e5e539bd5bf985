"""What the providers' components share: naming a slice and a URL in error messages, the export record filter,
UTC date-times, export files downloaded whole before they are decoded, and export job statuses that say why a job
failed."""

import logging
import re
import tempfile
import time
import zlib
from dataclasses import InitVar, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import IO, Any, Dict, Iterable, List, Mapping, MutableMapping, Optional
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import HTTPError as TransferError

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.extractors.dpath_extractor import DpathExtractor
from airbyte_cdk.sources.declarative.extractors.record_filter import RecordFilter
from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.declarative.requesters.http_requester import HttpRequester
from airbyte_cdk.sources.declarative.requesters.request_options.interpolated_request_options_provider import (
    InterpolatedRequestOptionsProvider,
)
from airbyte_cdk.sources.types import StreamSlice, StreamState
from airbyte_cdk.utils.mapping_helpers import get_interpolation_context
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

# The forms date-times come in: both CSV forms (`2018-11-29 15:10:15 -0500`, `2019-11-25T16:29:13.057 -0500`), RFC 3339.
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(Z|z|[+-]\d{2}:?\d{2})?"
)
_UTC = timezone.utc
_OFFSETS: Dict[str, timedelta] = {}
_DOWNLOAD_CHUNK = 1 << 18  # a gzip chunk inflates about tenfold while it is checked
LOGGER = logging.getLogger("airbyte")


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
