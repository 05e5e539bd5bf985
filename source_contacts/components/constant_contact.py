"""What YAML cannot say for Constant Contact v2 and v3: CSV export decoding, fixed access tokens, opt-outs, list partitions and their state."""

import csv
import io
import re
from dataclasses import InitVar, dataclass, field
from datetime import date
from operator import itemgetter
from typing import IO, Any, Hashable, Iterable, Iterator, List, Mapping, MutableMapping, Optional, Tuple
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.auth.declarative_authenticator import DeclarativeAuthenticator
from airbyte_cdk.sources.declarative.decoders.decoder import Decoder
from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.declarative.migrations.state_migration import StateMigration
from airbyte_cdk.sources.declarative.partition_routers.partition_router import PartitionRouter
from airbyte_cdk.sources.declarative.requesters.paginators.strategies.pagination_strategy import PaginationStrategy
from airbyte_cdk.sources.types import Config, Record, StreamSlice, StreamState
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.common import expected_records, to_rfc3339

# Python's csv refuses a field over 128 KB by default and offers only a process-wide setter. Export fields have no
# documented size limit, so the connector lifts it once, here, for its one process: to the largest value a C long
# holds on every platform (2 GiB, more than any field that fits in memory).
csv.field_size_limit(2**31 - 1)

_NON_WORD = re.compile(r"[^0-9a-z]+")
# The date forms the v3 docs accept (YYYY-MM-DD, YYYY/M/D, MM/DD/YYYY, M-D-YYYY ...), a time after it ignored.
_DATE = re.compile(r"(?:(\d{4})[-/](\d{1,2})[-/](\d{1,2})|(\d{1,2})[-/](\d{1,2})[-/](\d{4}))(?:[T ].*)?")
_MONTH_DAY = re.compile(r"\d{1,2}[-/]\d{1,2}")
_has_value = itemgetter(1)


class CsvExportError(AirbyteTracedException):
    """A CSV export the sync cannot trust (wrong field count, an unreadable date, bytes that are not UTF-8, rows missing)."""


def snake_case(label: str) -> str:
    """`State/Province (Intl)` -> `state_province_intl`: a stable field name for any header label."""
    return _NON_WORD.sub("_", label.strip().lower()).strip("_")


def to_date(value: str) -> Optional[str]:
    """A date in a form the v3 docs accept as `YYYY-MM-DD`; empty, or a month and day without a year (v3 keeps a
    birthday so: its month and day are in birthday_month and birthday_day) -> None; else ValueError."""
    if not value or _MONTH_DAY.fullmatch(value):
        return None
    match = _DATE.fullmatch(value)
    if match is None:
        raise ValueError(value)
    year, month, day = match.group(1, 2, 3) if match.group(1) else match.group(6, 4, 5)
    return date(int(year), int(month), int(day)).isoformat()


def _first_bad_byte(body: IO[bytes]) -> str:
    """Where the first byte that is not UTF-8 is in a file: `line 5 (byte 1234) has bytes that are not UTF-8 (ff)`."""
    body.seek(0)
    offset = 0
    for line_no, line in enumerate(body, start=1):  # no UTF-8 sequence holds a newline byte: lines split safely
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as error:
            return f"line {line_no} (byte {offset + error.start}) has bytes that are not UTF-8 ({line[error.start:error.end].hex()})"
        offset += len(line)
    return "it has bytes that are not UTF-8"


@dataclass
class CsvExportDecoder(Decoder):
    """Decodes an export CSV row by row: header labels -> field names, empty cells left out (null), date-times ->
    UTC RFC 3339, dates -> YYYY-MM-DD; custom columns in `custom_fields`; a broken file fails loudly.

    Reads the file SpooledDownloadRequester downloaded and compares its rows with the count the API reported.
    labels: documented header labels and the field names they stand for (matched after dropping ` - <type>`).
    type_suffix: drop a trailing ` - <type>` from labels (v3 writes `Email address - other`).
    datetime_fields, date_fields: field names whose values are normalized.
    standard_fields: the documented fields; with them, every other column is custom: {label: value} in
      `custom_fields`. Without them every column is a field.
    """

    parameters: InitVar[Mapping[str, Any]]
    labels: Mapping[str, str] = field(default_factory=dict)
    type_suffix: bool = False
    datetime_fields: List[str] = field(default_factory=list)
    date_fields: List[str] = field(default_factory=list)
    standard_fields: List[str] = field(default_factory=list)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = parameters.get("name", "")
        self._labels = {snake_case(label): name for label, name in self.labels.items()}

    def is_stream_response(self) -> bool:
        return True

    def columns(self, header: List[str]) -> Tuple[List[Hashable], List[Tuple[Hashable, str]]]:
        """The record key of each column, and the (key, label) of the custom ones.

        A field's key is its name: the label as `labels` maps it, else in snake_case, ` - <type>` dropped; a name
        two labels share keeps the later label's type, so no column is lost. A custom column's key is a tuple
        holding its label (never a field name), moved into `custom_fields` per row.
        """
        keys: List[Hashable] = []
        custom: List[Tuple[Hashable, str]] = []
        for label in header:
            base, _, kind = label.rpartition(" - ") if self.type_suffix and " - " in label else (label, "", "")
            name = self._labels.get(snake_case(base)) or snake_case(base)
            if self.standard_fields and name not in self.standard_fields:
                keys.append((label,))
                custom.append((keys[-1], label))
                continue
            if name in keys:
                name = f"{name}_{snake_case(kind or str(len(keys)))}"
            keys.append(name)
        return keys, custom

    def decode(self, response: requests.Response) -> Iterator[MutableMapping[str, Any]]:  # type: ignore[override]
        body, source = response.raw, response.url.split("?", 1)[0]
        # utf-8-sig drops a BOM; newline="" lets csv keep newlines embedded in quoted fields.
        text = io.TextIOWrapper(body, encoding="utf-8-sig", newline="")
        try:
            rows = yield from self._records(csv.reader(text), source)
        except UnicodeDecodeError:
            raise self._error(_first_bad_byte(body), source) from None
        finally:
            text.close()
        expected = expected_records(response)
        if expected is not None and rows != expected:
            raise self._error(f"it has {rows} rows where Constant Contact reported {expected}", source)

    def _records(self, reader: Any, source: str) -> Iterator[MutableMapping[str, Any]]:
        """The records of the rows; returns how many rows there were."""
        header = next(reader, None)
        if not header:
            return 0  # an empty export has no header: 0 records
        keys, custom = self.columns(header)
        width = len(keys)
        datetimes = [(i, to_rfc3339, "date-time") for i, key in enumerate(keys) if key in self.datetime_fields]
        dates = [(i, to_date, "date") for i, key in enumerate(keys) if key in self.date_fields]
        conversions = datetimes + dates
        row_number = 0
        for row in reader:
            if not row:
                continue  # a blank line holds no field at all (files may end with one)
            row_number += 1
            if len(row) != width:
                raise self._error(
                    f"row {row_number} (line {reader.line_num}) has {len(row)} fields, the header has {width}", source
                )
            for i, convert, kind in conversions:
                try:
                    row[i] = convert(row[i])
                except ValueError:
                    raise self._error(f"row {row_number} (line {reader.line_num}): {keys[i]} '{row[i]}' is not a {kind}", source)
            record = dict(filter(_has_value, zip(keys, row)))  # an empty cell is null: left out
            if custom:
                values = {label: record.pop(key) for key, label in custom if key in record}
                if values:
                    record["custom_fields"] = values
            yield record
        return row_number

    def _error(self, what: str, source: str) -> CsvExportError:
        message = f"Stream {self._stream}: the export file {source} is broken: {what}."
        return CsvExportError(message=message, internal_message=message, failure_type=FailureType.system_error)


@dataclass
class AccessTokenAuthenticator(DeclarativeAuthenticator):
    """Sends a fixed v3 access token as `Bearer`; asked to refresh it (a 401), fails saying what to fix.

    The v3 error handler answers 401 with REFRESH_TOKEN_THEN_RETRY, which refreshes an OAuth token; in
    access-token mode the CDK calls this `refresh_and_set_access_token` instead, so one error handler
    serves both credential modes.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    access_token: str = ""
    rejected_message: str = "The access token was rejected (HTTP 401)."

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._token = InterpolatedString.create(self.access_token, parameters=parameters).eval(self.config)

    @property
    def auth_header(self) -> str:
        return "Authorization"

    @property
    def token(self) -> str:
        return f"Bearer {self._token}"

    def refresh_and_set_access_token(self) -> None:
        raise AirbyteTracedException(
            message=self.rejected_message, internal_message=self.rejected_message, failure_type=FailureType.config_error
        )


@dataclass
class InvalidClientAuthenticator(DeclarativeAuthenticator):
    """The declared OAuthAuthenticator (`authenticator`), failing a refresh the token endpoint answers `invalid_client`
    (a wrong client_id or client_secret) as a config error that says so (`rejected_message`).

    The CDK maps the refresh errors its `refresh_token_error_values` list to "Re-authenticate", which is wrong advice
    for this one, and lets the others out as a bare `HTTPError`.
    """

    authenticator: DeclarativeAuthenticator
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    rejected_message: str = "The OAuth token endpoint rejected the client credentials (invalid_client)."

    @property
    def auth_header(self) -> str:
        return "Authorization"

    @property
    def token(self) -> str:
        return str(self._explained(self.authenticator.get_auth_header)[self.auth_header])

    def refresh_and_set_access_token(self) -> None:
        self._explained(self.authenticator.refresh_and_set_access_token)  # type: ignore[attr-defined]

    def _explained(self, call: Any) -> Any:
        try:
            return call()
        except requests.HTTPError as error:
            body = error.response.json() if error.response is not None and error.response.content else {}
            if isinstance(body, Mapping) and body.get("error") == "invalid_client":
                raise AirbyteTracedException(
                    message=self.rejected_message, internal_message=str(error), failure_type=FailureType.config_error
                ) from None
            raise


@dataclass
class V2ListPartitionRouter(PartitionRouter):
    """One partition per v2 list: `constant_contact_v2.list_ids` as given, else every list of `every_list`.

    Configured ids are used as given (no list call, so the export's system lists work and a missing list
    fails with its 404); without them `every_list` (a SubstreamPartitionRouter over GET /lists) decides.
    """

    every_list: PartitionRouter
    config: Config
    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._list_ids = [str(list_id) for list_id in (self.config.get("constant_contact_v2") or {}).get("list_ids") or []]

    def stream_slices(self) -> Iterable[StreamSlice]:
        if not self._list_ids:
            yield from self.every_list.stream_slices()
            return
        for list_id in self._list_ids:
            yield StreamSlice(partition={"list_id": list_id}, cursor_slice={})

    def get_stream_state(self) -> Optional[Mapping[str, StreamState]]:
        return None if self._list_ids else self.every_list.get_stream_state()

    # The list id goes into the path, not into the request options.
    def get_request_params(self, **kwargs: Any) -> Mapping[str, Any]:
        return {}

    def get_request_headers(self, **kwargs: Any) -> Mapping[str, Any]:
        return {}

    def get_request_body_data(self, **kwargs: Any) -> Mapping[str, Any]:
        return {}

    def get_request_body_json(self, **kwargs: Any) -> Mapping[str, Any]:
        return {}


class _WindowQueryPage(str):
    """A page link of one window's query; as a str it is the request path, and it remembers which query it pages."""

    window_query: str  # URL of the first page of the window's updated_at query
    opt_outs: bool  # whether this pages the window's opt-out query

    @classmethod
    def of(cls, link: str, window_query: str, opt_outs: bool) -> "_WindowQueryPage":
        page = cls(link)
        page.window_query, page.opt_outs = window_query, opt_outs
        return page


@dataclass
class OptOutsPagination(PaginationStrategy):
    """Follows `_links.next.href`; after a window's last page, reads the contacts who opted out in that window.

    Constant Contact can leave a contact's `updated_at` alone when its email opts out, so `updated_after` misses
    the opt-out. After the window's `updated_after=A&updated_before=B` query comes the same query with
    `optout_after=A&optout_before=B&updated_before=A`: the contacts who opted out in the window and whose
    `updated_at` is older than it. The others are read anyway: by this window's query, or by the later window that
    holds their `updated_at`. So no opt-out is missed, none is read twice, and no contact of the opt-out query can
    move the state past data not read yet. The query each page belongs to travels in the page token, as the CDK
    wants of a strategy that paginates several partitions at once.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]

    @property
    def initial_token(self) -> Optional[Any]:
        return None

    def get_page_size(self) -> Optional[int]:
        return None

    def next_page_token(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Optional[Record],
        last_page_token_value: Optional[Any] = None,
        page_size_override: Optional[int] = None,
    ) -> Optional[_WindowQueryPage]:
        window_query = getattr(last_page_token_value, "window_query", None) or response.request.url
        opt_outs = getattr(last_page_token_value, "opt_outs", False)
        link = ((response.json().get("_links") or {}).get("next") or {}).get("href")
        if link:
            return _WindowQueryPage.of(link, window_query, opt_outs)
        if opt_outs:
            return None
        return _WindowQueryPage.of(opt_outs_query(window_query), window_query, opt_outs=True)


def opt_outs_query(window_query: str) -> str:
    """`/v3/contacts?...&updated_after=A&updated_before=B` -> the same path and query for the contacts who opted out
    in [A, B) and were last updated before A: optout_after=A&optout_before=B&updated_before=A."""
    url = urlsplit(window_query)
    query = dict(parse_qsl(url.query))
    start = query.pop("updated_after")
    query.update(optout_after=start, optout_before=query["updated_before"], updated_before=start)
    return f"{url.path}?{urlencode(query)}"


@dataclass
class FirstSeenListsStartAtStartDate(StateMigration):
    """Per-list state without the CDK's fallback cursor, so that a list seen for the first time starts at start_date.

    The CDK's per-partition cursor starts a partition missing from `states` at the global cursor (the newest value
    of all lists), which would skip every member of a list just added to list_ids (or new in the account) that
    changed before the other lists' newest change.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]

    def should_migrate(self, stream_state: Mapping[str, Any]) -> bool:
        return "states" in stream_state and "state" in stream_state and not stream_state.get("use_global_cursor")

    def migrate(self, stream_state: Mapping[str, Any]) -> Mapping[str, Any]:
        return {key: value for key, value in stream_state.items() if key != "state"}
