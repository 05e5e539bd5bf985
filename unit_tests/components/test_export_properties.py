"""Properties of the export decoding, for any input hypothesis finds: CSV labels and values round-trip (empty cells
null), every date-time form normalizes to the same UTC instant ending in Z, gzip NDJSON round-trips and any cut
of it fails loudly."""

import csv
import gzip
import io
from datetime import datetime, timedelta, timezone

import orjson
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from source_contacts.components.csv_export import CsvExportDecoder, snake_case
from source_contacts.components.datetimes import to_rfc3339
from source_contacts.components.gzip_ndjson import ExportFileError, GzipNdjsonDecoder

settings.register_profile("exports", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("exports")

# Any text a file can hold: UTF-8 has no lone surrogates.
TEXT = st.text(st.characters(blacklist_categories=["Cs"]))


def _response(body: bytes) -> requests.Response:
    response = requests.Response()
    response.raw = io.BytesIO(body)
    response.url = "https://files.example.com/export.csv"
    response.status_code = 200
    return response


# ---------------------------------------------------------------- CSV mapping


@given(
    columns=st.dictionaries(TEXT.filter(lambda label: snake_case(label) != "email_address"), TEXT, max_size=6),
    email=TEXT.filter(bool),
    bom=st.booleans(),
)
def test_any_labels_and_values_round_trip_and_empty_cells_are_null(columns: dict, email: str, bom: bool) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["Email address", *columns])
    writer.writerow([email, *columns.values()])
    body = ("\ufeff" if bom else "") + buffer.getvalue()
    decoder = CsvExportDecoder(parameters={"name": "s"}, labels={"Email address": "email_address"}, standard_fields=["email_address"])

    [record] = list(decoder.decode(_response(body.encode("utf-8"))))

    custom = {label: value for label, value in columns.items() if value}
    assert record == {"email_address": email, **({"custom_fields": custom} if custom else {})}


# ---------------------------------------------------------------- date normalization

OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
MOMENTS = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 12, 30), timezones=OFFSETS)


def _instant(rfc3339: str) -> datetime:
    assert rfc3339.endswith("Z") and len(rfc3339) == len("2024-01-01T00:00:00.000Z")
    return datetime.fromisoformat(rfc3339[:-1] + "+00:00")


@given(MOMENTS)
def test_any_aware_date_time_in_every_form_normalizes_to_its_utc_instant(moment: datetime) -> None:
    to_ms = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    short_form = moment.strftime("%Y-%m-%d %H:%M:%S %z")  # `2018-11-29 15:10:15 -0500`
    long_form = f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d} {moment:%z}"  # `2019-11-25T16:29:13.057 -0500`

    assert _instant(to_rfc3339(short_form)) == moment.replace(microsecond=0)
    assert _instant(to_rfc3339(long_form)) == to_ms
    assert _instant(to_rfc3339(moment.isoformat())) == to_ms
    assert to_rfc3339(moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")) == to_rfc3339(moment.isoformat())


# ---------------------------------------------------------------- gzip NDJSON

SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | TEXT)
JSON_VALUES = SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(TEXT, SCALARS, max_size=3)
RECORDS = st.lists(st.dictionaries(TEXT, JSON_VALUES, max_size=5), max_size=12)


def _ndjson_gzip(records: list) -> bytes:
    return gzip.compress(b"".join(orjson.dumps(record) + b"\n" for record in records))


def _decode(body: bytes) -> list:
    return list(GzipNdjsonDecoder(parameters={"name": "s"}).decode(_response(body)))


@given(RECORDS)
def test_any_list_of_json_objects_round_trips(records: list) -> None:
    assert _decode(_ndjson_gzip(records)) == records


@given(RECORDS.filter(bool), st.data())
def test_any_cut_of_the_file_fails_loudly(records: list, data: st.DataObject) -> None:
    blob = _ndjson_gzip(records)
    cut = data.draw(st.integers(min_value=1, max_value=len(blob) - 1))

    decoded = []
    with pytest.raises(ExportFileError, match="truncated or corrupt"):
        for record in GzipNdjsonDecoder(parameters={"name": "s"}).decode(_response(blob[:cut])):
            decoded.append(record)
    assert decoded == records[: len(decoded)]  # what came before the failure is the file's beginning
