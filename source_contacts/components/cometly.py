"""What YAML cannot say for Cometly: date windows in the space time zone, presigned downloads, gzip NDJSON decoding."""

import gzip
import zlib
from dataclasses import InitVar, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, List, Mapping, MutableMapping, Optional, Union
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import orjson
import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.auth.declarative_authenticator import DeclarativeAuthenticator
from airbyte_cdk.sources.declarative.decoders.decoder import DECODER_OUTPUT_TYPE, Decoder
from airbyte_cdk.sources.declarative.requesters.http_requester import HttpRequester
from airbyte_cdk.sources.declarative.requesters.requester import HttpMethod, Requester
from airbyte_cdk.sources.types import Config, StreamSlice, StreamState
from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.common import SpooledDownloadRequester, slice_location, to_rfc3339

SPACE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def to_space_time(utc_value: str, zone: ZoneInfo, window_end: bool = False) -> str:
    """'2024-03-10T07:00:00Z' -> '2024-03-10 03:00:00' in America/New_York."""
    instant = datetime.fromisoformat(utc_value.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=timezone.utc)
    local = instant.astimezone(zone)
    if window_end and local.fold:
        # A wall time the clocks repeat when they go back reads as its first occurrence, early: end the window
        # when the repeated wall times are over instead, overlapping the next window rather than leaving a gap.
        local = _after_repeated_wall_times(instant, zone)
    return local.strftime(SPACE_TIME_FORMAT)


def _after_repeated_wall_times(instant: datetime, zone: ZoneInfo) -> datetime:
    """For an instant in the second pass of wall times the clocks repeat, the first wall time after them (not
    always a whole hour: Chatham's clocks go back at 03:45)."""
    local = instant.astimezone(zone)
    earlier, later = local.replace(fold=0).utcoffset(), local.utcoffset()
    low, high = instant - (earlier - later), instant  # the clocks went back after `low`, at or before `high`
    while high - low > timedelta(seconds=1):
        middle = low + timedelta(seconds=(high - low) // timedelta(seconds=2))
        low, high = (low, middle) if middle.astimezone(zone).utcoffset() == later else (middle, high)
    return (high + (earlier - later)).astimezone(zone)


@dataclass
class CometlyWindowRequester(Requester):
    """Wraps an HttpRequester: adds the slice's start_time/end_time as start_date/end_date in space time.

    Cometly reads `YYYY-MM-DD HH:MM:SS` in the space's time zone, which Jinja's format_datetime cannot
    convert to; the window tiling itself stays with the stream's DatetimeBasedCursor (UTC state).
    """

    requester: Requester
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    inject_into: str = "request_parameter"

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        if self.inject_into not in ("request_parameter", "body_json"):
            raise ValueError(f"inject_into must be request_parameter or body_json, not {self.inject_into}")
        self._zone = ZoneInfo((self.config.get("cometly") or {}).get("timezone") or "UTC")

    def window(self, stream_slice: Optional[StreamSlice]) -> dict[str, str]:
        """start_date/end_date of the slice in space time; empty outside a windowed slice."""
        if not stream_slice or "start_time" not in stream_slice or "end_time" not in stream_slice:
            return {}
        return {
            "start_date": to_space_time(stream_slice["start_time"], self._zone),
            "end_date": to_space_time(stream_slice["end_time"], self._zone, window_end=True),
        }

    def send_request(
        self,
        stream_state: Optional[StreamState] = None,
        stream_slice: Optional[StreamSlice] = None,
        next_page_token: Optional[Mapping[str, Any]] = None,
        path: Optional[str] = None,
        request_headers: Optional[Mapping[str, Any]] = None,
        request_params: Optional[Mapping[str, Any]] = None,
        request_body_data: Optional[Union[Mapping[str, Any], str]] = None,
        request_body_json: Optional[Mapping[str, Any]] = None,
        log_formatter: Optional[Callable[[requests.Response], Any]] = None,
    ) -> Optional[requests.Response]:
        window = self.window(stream_slice)
        if self.inject_into == "request_parameter":
            request_params = {**(request_params or {}), **window}
        else:
            request_body_json = {**(request_body_json or {}), **window}
        return self.requester.send_request(
            stream_state=stream_state,
            stream_slice=stream_slice,
            next_page_token=next_page_token,
            path=path,
            request_headers=request_headers,
            request_params=request_params,
            request_body_data=request_body_data,
            request_body_json=request_body_json,
            log_formatter=log_formatter,
        )

    # Everything else is the wrapped requester's.
    def get_authenticator(self) -> DeclarativeAuthenticator:
        return self.requester.get_authenticator()

    def get_url_base(self, **kwargs: Any) -> str:
        return self.requester.get_url_base(**kwargs)

    def get_path(self, **kwargs: Any) -> str:
        return self.requester.get_path(**kwargs)

    def get_method(self) -> HttpMethod:
        return self.requester.get_method()

    def get_request_params(self, **kwargs: Any) -> MutableMapping[str, Any]:
        return self.requester.get_request_params(**kwargs)

    def get_request_headers(self, **kwargs: Any) -> Mapping[str, Any]:
        return self.requester.get_request_headers(**kwargs)

    def get_request_body_data(self, **kwargs: Any) -> Union[Mapping[str, Any], str]:
        return self.requester.get_request_body_data(**kwargs)

    def get_request_body_json(self, **kwargs: Any) -> Optional[Mapping[str, Any]]:
        return self.requester.get_request_body_json(**kwargs)


_SIGNING_PARAMS = ("signature", "credential", "token")


def mask_presigned_url(url: str) -> None:
    """Registers the URL's signing values as secrets: the CDK puts a failed request's URL in logs and traces."""
    add_to_secrets(url)
    for key, value in parse_qsl(urlsplit(url).query):
        if value and any(part in key.lower() for part in _SIGNING_PARAMS):
            add_to_secrets(value)


@dataclass
class PresignedDownloadRequester(SpooledDownloadRequester):
    """GETs `{{ download_target }}` with no credentials; a 403 from the file host re-polls the job for a new URL.

    The CDK downloads the URL captured by the poll that saw the job complete; a presigned URL expires
    (Cometly: 15 minutes), so a late download must ask the job again. Declare the error handler with
    `403 -> IGNORE` so the 403 reaches this class instead of failing the sync. The file is downloaded whole
    (SpooledDownloadRequester) before it is decoded.
    refresh_requester: the job status requester; it is sent the same slice, which holds `creation_response`.
    download_url_path: keys leading to the fresh URL in the status answer.
    max_url_refreshes: fresh URLs to try before the sync fails.
    """

    refresh_requester: Optional[Requester] = None
    download_url_path: List[str] = field(default_factory=lambda: ["download_url"])
    max_url_refreshes: int = 3

    def send_request(  # type: ignore[override]  # every CDK caller passes keywords
        self, stream_state: Optional[StreamState] = None, stream_slice: Optional[StreamSlice] = None, **kwargs: Any
    ) -> Optional[requests.Response]:
        for refreshes in range(self.max_url_refreshes + 1):
            if refreshes:
                stream_slice = self._with_fresh_url(stream_slice)
            if stream_slice is not None and stream_slice.extra_fields.get("download_target"):
                mask_presigned_url(stream_slice.extra_fields["download_target"])
            response = super().send_request(stream_state=stream_state, stream_slice=stream_slice, **kwargs)
            if response is None or response.status_code != 403:
                return response
            response.close()
            self.logger.info(f"{self.name}: the download link was refused (expired); asking the job for a fresh one.")
        raise self._error(f"the file host refused {self.max_url_refreshes + 1} download links in a row (HTTP 403)", stream_slice)

    def _with_fresh_url(self, stream_slice: Optional[StreamSlice]) -> StreamSlice:
        """The same slice with `download_target` replaced by the URL of a new status poll."""
        if self.refresh_requester is None or stream_slice is None:
            raise self._error("the download link expired and no refresh_requester is declared", stream_slice)
        answer = self.refresh_requester.send_request(stream_slice=stream_slice)
        url: Any = answer.json() if answer is not None else None
        for key in self.download_url_path:
            url = url.get(key) if isinstance(url, Mapping) else None
        if not isinstance(url, str) or not url:
            raise self._error("the download link expired and the job no longer offers one", stream_slice)
        return StreamSlice(
            partition=stream_slice.partition,
            cursor_slice=stream_slice.cursor_slice,
            extra_fields={**stream_slice.extra_fields, "download_target": url},
        )

    def _error(self, what: str, stream_slice: Optional[StreamSlice]) -> AirbyteTracedException:
        # The URL itself is never put in a message: its signature is a credential.
        message = f"{self.name}: {what}. Slice: {slice_location(stream_slice)}."
        return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)


class ExportFileError(AirbyteTracedException):
    """An export file the sync cannot trust (truncated gzip, a line that is not a JSON object)."""


@dataclass
class GzipNdjsonDecoder(Decoder):
    """Decodes a gzip NDJSON body line by line with orjson, never holding the file in memory.

    The CDK's JsonLineParser skips malformed lines with a warning; here every line must be a JSON object,
    else the sync fails naming the line (the slice is added by the record filter). Empty files are 0 records.
    datetime_fields: fields whose values must be UTC RFC 3339 ending in `Z`; any other date-time is converted.
    """

    parameters: InitVar[Mapping[str, Any]]
    datetime_fields: List[str] = field(default_factory=list)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = parameters.get("name", "export")

    def is_stream_response(self) -> bool:
        return True

    def decode(self, response: requests.Response) -> DECODER_OUTPUT_TYPE:
        # response.raw keeps the bytes compressed whatever Content-Encoding says: we gunzip exactly once.
        datetimes = self.datetime_fields
        line_no = 0
        try:
            with gzip.GzipFile(fileobj=response.raw, mode="rb") as lines:
                for line_no, line in enumerate(lines, start=1):
                    if line.isspace():
                        continue
                    try:
                        record = orjson.loads(line)
                    except orjson.JSONDecodeError as error:
                        raise self._error(f"line {line_no} of the export file is not valid JSON ({error})") from error
                    if not isinstance(record, dict):
                        raise self._error(f"line {line_no} of the export file is not a JSON object")
                    for name in datetimes:
                        value = record.get(name)
                        if isinstance(value, str) and value[-1:] != "Z":
                            record[name] = self._utc(value, name, line_no)
                    yield record
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as error:
            raise self._error(f"the export file is truncated or corrupt after line {line_no} ({error})") from error
        finally:
            response.close()

    def _utc(self, value: str, name: str, line_no: int) -> Optional[str]:
        try:
            return to_rfc3339(value)
        except ValueError:
            raise self._error(f"line {line_no} of the export file: {name} '{value}' is not a date-time") from None

    def _error(self, what: str) -> ExportFileError:
        message = f"Stream {self._stream}: {what}. The other windows are still read, then the stream fails with its state before this window."
        return ExportFileError(message=message, internal_message=message, failure_type=FailureType.system_error)
