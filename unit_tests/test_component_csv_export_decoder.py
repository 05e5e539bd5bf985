"""CsvExportDecoder: streamed CSV -> field-named records, label mapping, date normalization, loud failures."""

import io

import pytest
import requests

from source_contacts.components.constant_contact import CsvExportDecoder, CsvExportError, snake_case, to_rfc3339


def _response(body: bytes, url: str = "https://files.example.com/x.csv?api_key=secret") -> requests.Response:
    response = requests.Response()
    response.raw = io.BytesIO(body)
    response.url = url
    response.status_code = 200
    return response


def _v3() -> CsvExportDecoder:
    return CsvExportDecoder(
        parameters={"name": "cc_contacts_export"},
        labels={"First name": "first_name", "Email address": "email_address", "Updated At": "updated_at"},
        type_suffix=True,
        datetime_fields=["updated_at"],
    )


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2018-11-29 15:10:15 -0500", "2018-11-29T20:10:15.000Z"),
        ("2019-11-25T16:29:13.057 -0500", "2019-11-25T21:29:13.057Z"),
        ("2019-11-25T23:29:13.5+05:30", "2019-11-25T17:59:13.500Z"),
        ("2024-03-01T10:00:00.000Z", "2024-03-01T10:00:00.000Z"),
        ("2024-12-31 23:30:00 -0100", "2025-01-01T00:30:00.000Z"),
        ("2019-11-25T16:29:13.0575 +0130", "2019-11-25T14:59:13.057Z"),  # four fraction digits
        ("2019-11-25 16:29:13 -05:00", "2019-11-25T21:29:13.000Z"),  # colon offset: the regex path
        ("2019-11-25 16:29:13", "2019-11-25T16:29:13.000Z"),  # no offset: read as UTC
        ("", None),
    ],
)
def test_to_rfc3339_normalizes_both_csv_forms_to_utc(value: str, expected: str) -> None:
    assert to_rfc3339(value) == expected


def test_to_rfc3339_rejects_what_is_not_a_date_time() -> None:
    with pytest.raises(ValueError):
        to_rfc3339("29/11/2018")
    with pytest.raises(ValueError):
        to_rfc3339("29/11/2018 10:00 -0500")


def test_snake_case_gives_stable_names() -> None:
    assert [snake_case(label) for label in ["State/Province (Intl)", "Favorite Color", " Shoe  Size ", "EMAIL"]] == [
        "state_province_intl", "favorite_color", "shoe_size", "email",
    ]


def test_field_names_drop_the_type_suffix_and_keep_colliding_columns_apart() -> None:
    names = _v3().field_names(["First name", "Email address - other", "Phone number - home", "Phone number - work", "Updated At"])
    assert names == ["first_name", "email_address", "phone_number", "phone_number_work", "updated_at"]


def test_decode_handles_bom_quotes_newlines_and_non_ascii() -> None:
    body = '\ufeffFirst name,Email address - other,Notes,Updated At\r\nZoë,z@example.com,"a, ""b""\nc",2018-11-29 15:10:15 -0500\r\n\r\n'
    records = list(_v3().decode(_response(body.encode("utf-8"))))
    assert records == [{"first_name": "Zoë", "email_address": "z@example.com", "notes": 'a, "b"\nc', "updated_at": "2018-11-29T20:10:15.000Z"}]


def test_decode_of_an_empty_body_or_a_lone_header_is_no_record() -> None:
    assert list(_v3().decode(_response(b""))) == []
    assert list(_v3().decode(_response(b"First name,Updated At\r\n"))) == []


def test_a_row_with_the_wrong_field_count_fails_naming_stream_row_and_line_without_the_query() -> None:
    body = b'First name,Updated At\r\n"A\nB",\r\nC,,extra\r\n'
    records = _v3().decode(_response(body))
    assert next(records) == {"first_name": "A\nB", "updated_at": None}
    with pytest.raises(CsvExportError) as raised:
        next(records)
    assert raised.value.message == (
        "Stream cc_contacts_export: the export file https://files.example.com/x.csv is broken: "
        "row 2 (line 4) has 3 fields, the header has 2."
    )


def test_an_unreadable_date_fails_naming_the_field() -> None:
    with pytest.raises(CsvExportError, match=r"row 1 \(line 2\): updated_at 'soon' is not a date-time"):
        list(_v3().decode(_response(b"First name,Updated At\r\nA,soon\r\n")))
