"""Export files downloaded whole to disk, checked complete, before a record of them is decoded."""

import tempfile
import time
import zlib
from dataclasses import dataclass, field
from typing import IO, Any, Mapping, Optional

import requests
from urllib3.exceptions import HTTPError as TransferError

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.declarative.requesters.http_requester import HttpRequester
from airbyte_cdk.sources.declarative.requesters.request_options.interpolated_request_options_provider import (
    InterpolatedRequestOptionsProvider,
)
from airbyte_cdk.sources.types import StreamSlice, StreamState
from airbyte_cdk.utils.mapping_helpers import get_interpolation_context
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

_DOWNLOAD_CHUNK = 1 << 18  # a gzip chunk inflates about tenfold while it is checked


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
                    if gzip_end and not spool.tell() and chunk.lstrip()[:1] == b"{":
                        gzip_end = None  # plain NDJSON, not gzip: the decoder reads it as it is, and says so
                    spool.write(chunk)
                    if gzip_end:
                        gzip_end.feed(chunk)
                length, received = response.headers.get("Content-Length"), response.raw.tell()
            if length is not None and received != int(length):
                raise _CutShort(f"{received} of {length} bytes")
            if self.gzip_file and not received:
                raise _CutShort("an empty body where a gzip file is due (a gzip file is never 0 bytes)")
            if gzip_end:
                gzip_end.check()
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

