"""Constant Contact's CSV exports (v2 and v3) decoded row by row: header labels to field names, UTC date-times, dates."""

import csv
import io
import re
from dataclasses import InitVar, dataclass, field
from datetime import date
from operator import itemgetter
from typing import IO, Any, Hashable, Iterator, List, Mapping, MutableMapping, Optional, Tuple

import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.decoders.decoder import Decoder
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.datetimes import to_rfc3339
from source_contacts.components.spooled_download import expected_records


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
    key_fields: fields a file must have a column for (the primary key): a renamed or localized label fails the stream
      instead of stripping the key from every record.
    """

    parameters: InitVar[Mapping[str, Any]]
    labels: Mapping[str, str] = field(default_factory=dict)
    type_suffix: bool = False
    datetime_fields: List[str] = field(default_factory=list)
    date_fields: List[str] = field(default_factory=list)
    standard_fields: List[str] = field(default_factory=list)
    key_fields: List[str] = field(default_factory=list)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = parameters.get("name", "")
        self._labels = {snake_case(label): name for label, name in self.labels.items()}

    def is_stream_response(self) -> bool:
        return True

    def columns(self, header: List[str], source: str = "") -> Tuple[List[Hashable], List[Tuple[Hashable, str]]]:
        """The record key of each column, and the (key, label) of the custom ones; a header without a `key_fields`
        column, or with two columns for one field (or two custom columns of one label), fails naming the column.

        A field's key is its name: the label as `labels` maps it, else in snake_case, ` - <type>` dropped (a second
        column of the name, of another type, keeps its type: `phone_number_work`). A custom column's key is a tuple
        holding its label (never a field name), moved into `custom_fields` per row.
        """
        keys: List[Hashable] = []
        custom: List[Tuple[Hashable, str]] = []
        for label in header:
            base, _, kind = label.rpartition(" - ") if self.type_suffix and " - " in label else (label, "", "")
            name = self._labels.get(snake_case(base)) or snake_case(base)
            key: Hashable = (label,) if self.standard_fields and name not in self.standard_fields else name
            if key in keys and kind and isinstance(key, str):
                key = f"{name}_{snake_case(kind)}"  # `Phone number - home` and `- work`: one column each
            if key in keys:
                taken = header[keys.index(key)]
                raise self._error(f"its columns '{taken}' and '{label}' both hold {name if isinstance(key, str) else 'the custom field ' + repr(label)}; one would be lost", source)
            keys.append(key)
            if isinstance(key, tuple):
                custom.append((key, label))
        missing = [name for name in self.key_fields if name not in keys]
        if missing:
            raise self._error(f"it has no column for {', '.join(missing)}, the records' primary key (its header: {', '.join(header)})", source)
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
        keys, custom = self.columns(header, source)
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

