"""What YAML cannot say for Constant Contact v2 and v3: CSV export decoding, fixed access tokens, opt-outs, list partitions and their state."""

import csv
import io
import re
from dataclasses import InitVar, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator, List, Mapping, MutableMapping, Optional
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

# Both CSV forms the APIs write (`2018-11-29 15:10:15 -0500`, `2019-11-25T16:29:13.057 -0500`) and RFC 3339.
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(Z|z|[+-]\d{2}:?\d{2})?"
)
_NON_WORD = re.compile(r"[^0-9a-z]+")
_UTC = timezone.utc


class CsvExportError(AirbyteTracedException):
    """A CSV export the sync cannot trust (wrong field count, unreadable date)."""


def snake_case(label: str) -> str:
    """`State/Province (Intl)` -> `state_province_intl`: a stable field name for any header label."""
    return _NON_WORD.sub("_", label.strip().lower()).strip("_")


def to_rfc3339(value: str) -> Optional[str]:
    """A CSV date-time as fixed-width UTC RFC 3339 (`2018-11-29T20:10:15.000Z`); empty -> None; else ValueError."""
    if not value:
        return None
    moment = None
    if len(value) > 6 and value[-6] == " " and value[-5] in "+-":
        # Both API forms end in ` -0500`: as `-05:00`, fromisoformat reads them at a third of the regex's cost.
        try:
            moment = datetime.fromisoformat(f"{value[:-6]}{value[-5:-2]}:{value[-2:]}")
        except ValueError:
            pass
    if moment is None:
        moment = _parse_datetime(value)
    return moment.astimezone(_UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _parse_datetime(value: str) -> datetime:
    """Any form `_DATETIME` accepts, as an aware datetime; else ValueError."""
    match = _DATETIME.fullmatch(value.strip())
    if match is None:
        raise ValueError(value)
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=_UTC)
    if offset and offset not in ("Z", "z"):
        # A naive time is read as UTC: neither API writes one, and guessing a zone would be worse.
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment


@dataclass
class CsvExportDecoder(Decoder):
    """Decodes an export CSV as a stream: header labels -> field names, date-times -> UTC RFC 3339, broken rows fail loudly.

    labels: documented header labels and the field names they stand for (matched after dropping ` - <type>`).
    type_suffix: drop a trailing ` - <type>` from labels (v3 writes `Email address - other`).
    datetime_fields: field names whose values are normalized to RFC 3339.
    """

    parameters: InitVar[Mapping[str, Any]]
    labels: Mapping[str, str] = field(default_factory=dict)
    type_suffix: bool = False
    datetime_fields: List[str] = field(default_factory=list)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = parameters.get("name", "")
        self._labels = {snake_case(label): name for label, name in self.labels.items()}

    def is_stream_response(self) -> bool:
        return True

    def field_names(self, header: List[str]) -> List[str]:
        """Field names for a header row; a name two labels share keeps the later label's type so no column is lost."""
        names: List[str] = []
        for label in header:
            base, _, kind = label.rpartition(" - ") if self.type_suffix and " - " in label else (label, "", "")
            name = self._labels.get(snake_case(base)) or snake_case(base)
            if name in names:
                name = f"{name}_{snake_case(kind or str(len(names)))}"
            names.append(name)
        return names

    def decode(self, response: requests.Response) -> Iterator[MutableMapping[str, Any]]:  # type: ignore[override]
        response.raw.auto_close = False  # the text wrapper closes the stream itself (urllib3 io advice)
        response.raw.decode_content = True
        # utf-8-sig drops a BOM; newline="" lets csv keep newlines embedded in quoted fields.
        text = io.TextIOWrapper(response.raw, encoding="utf-8-sig", newline="")
        try:
            yield from self._records(csv.reader(text), response.url.split("?", 1)[0])
        finally:
            text.close()

    def _records(self, reader: Any, source: str) -> Iterator[MutableMapping[str, Any]]:
        header = next(reader, None)
        if not header:
            return  # an empty export has no header: 0 records
        names = self.field_names(header)
        width = len(names)
        dates = [i for i, name in enumerate(names) if name in self.datetime_fields]
        row_number = 0
        for row in reader:
            if not row:
                continue  # a blank line holds no field at all (files may end with one)
            row_number += 1
            if len(row) != width:
                raise self._error(
                    f"row {row_number} (line {reader.line_num}) has {len(row)} fields, the header has {width}", source
                )
            for i in dates:
                try:
                    row[i] = to_rfc3339(row[i])
                except ValueError:
                    raise self._error(f"row {row_number} (line {reader.line_num}): {names[i]} '{row[i]}' is not a date-time", source)
            yield dict(zip(names, row))

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
