"""components/constant_contact.py: CsvExportDecoder (streamed CSV, label mapping, custom fields, nulls, dates, row
counts, loud failures), AccessTokenAuthenticator (a fixed v3 token), OptOutsPagination (each window's opt-outs),
V2ListPartitionRouter (configured v2 lists, else every list) and FirstSeenListsStartAtStartDate (per-list state)."""

import io
import json
from typing import Optional
from unittest.mock import MagicMock

import pytest
import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.partition_routers.partition_router import PartitionRouter
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.csv_export import CsvExportDecoder, CsvExportError, snake_case, to_date
from source_contacts.components.opt_outs import OptOutsPagination, opt_outs_query
from source_contacts.components.v2_lists import FirstSeenListsStartAtStartDate, V2ListPartitionRouter
from source_contacts.components.v3_credentials import AccessTokenAuthenticator
from tests.support.builders import V3_URL, v2_config, v3_access_token_config

# ---------------------------------------------------------------- CsvExportDecoder

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


def test_snake_case_gives_stable_names() -> None:
    assert [snake_case(label) for label in ["State/Province (Intl)", "Favorite Color", " Shoe  Size ", "EMAIL"]] == [
        "state_province_intl", "favorite_color", "shoe_size", "email",
    ]


def test_columns_drop_the_type_suffix_and_keep_colliding_columns_apart() -> None:
    keys, custom = _v3().columns(["First name", "Email address - other", "Phone number - home", "Phone number - work", "Updated At"])
    assert keys == ["first_name", "email_address", "phone_number", "phone_number_work", "updated_at"]
    assert custom == []


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
    assert next(records) == {"first_name": "A\nB"}
    with pytest.raises(CsvExportError) as raised:
        next(records)
    assert raised.value.message == (
        "Stream cc_contacts_export: the export file https://files.example.com/x.csv is broken: "
        "row 2 (line 4) has 3 fields, the header has 2."
    )


def test_an_unreadable_date_fails_naming_the_field() -> None:
    with pytest.raises(CsvExportError, match=r"row 1 \(line 2\): updated_at 'soon' is not a date-time"):
        list(_v3().decode(_response(b"First name,Updated At\r\nA,soon\r\n")))


def _v3_every_field() -> CsvExportDecoder:
    return CsvExportDecoder(
        parameters={"name": "cc_contacts_export"},
        labels={"Email address": "email_address", "Updated At": "updated_at"},
        type_suffix=True,
        datetime_fields=["updated_at"],
        date_fields=["anniversary", "birthday"],
        standard_fields=["email_address", "phone_number", "anniversary", "birthday", "updated_at"],
    )


def test_columns_that_are_no_standard_field_are_custom_under_their_whole_label() -> None:
    header = ["Email address - other", "Favorite Color", "Source - event, spring", "Phone number - home", "Phone number - work"]
    keys, custom = _v3_every_field().columns(header)
    assert keys == ["email_address", ("Favorite Color",), ("Source - event, spring",), "phone_number", "phone_number_work"]
    assert custom == [(("Favorite Color",), "Favorite Color"), (("Source - event, spring",), "Source - event, spring")]


def test_custom_values_go_into_custom_fields_as_strings_and_empty_ones_are_left_out() -> None:
    body = 'Email address - other,Favorite Color,"Size, ""EU""",Updated At\r\na@x,blue,42,\r\nb@x,,,\r\nc@x,,0,\r\n'
    records = list(_v3_every_field().decode(_response(body.encode())))
    assert records == [
        {"email_address": "a@x", "custom_fields": {"Favorite Color": "blue", 'Size, "EU"': "42"}},
        {"email_address": "b@x"},
        {"email_address": "c@x", "custom_fields": {'Size, "EU"': "0"}},
    ]


@pytest.mark.parametrize(
    "value, expected",
    [("2006-11-15", "2006-11-15"), ("2006/1/5", "2006-01-05"), ("11/15/2006", "2006-11-15"), ("1-5-2006", "2006-01-05"),
     ("2015-06-20 00:00:00 -0400", "2015-06-20"), ("12/25", None), ("2-3", None), ("", None)],
)
def test_to_date_reads_the_documented_forms_and_a_month_and_day_without_a_year_is_none(value: str, expected: str) -> None:
    assert to_date(value) == expected


@pytest.mark.parametrize("value", ["15/11/2006", "2006-02-30", "soon", "11/15/06"])
def test_to_date_rejects_what_is_not_a_date(value: str) -> None:
    with pytest.raises(ValueError):
        to_date(value)


def test_an_unreadable_date_fails_naming_row_and_field() -> None:
    with pytest.raises(CsvExportError, match=r"row 1 \(line 2\): anniversary '31/12/2020' is not a date"):
        list(_v3_every_field().decode(_response(b"Email address - other,Anniversary\r\na@x,31/12/2020\r\n")))


def test_rows_are_compared_with_the_count_the_api_reported() -> None:
    body = b"First name,Updated At\r\nA,\r\nB,\r\n"
    for reported, fails in [(2, False), (3, True), (1, True), (None, False)]:
        response = _response(body)
        response.expected_records = reported
        if fails:
            with pytest.raises(CsvExportError, match=f"it has 2 rows where Constant Contact reported {reported}"):
                list(_v3().decode(response))
        else:
            assert len(list(_v3().decode(response))) == 2


def test_a_field_of_any_size_is_read() -> None:
    big = "x" * (1 << 20)
    assert list(_v3().decode(_response(f'First name\r\n"{big}"\r\n'.encode())))[0]["first_name"] == big


def test_bytes_that_are_not_utf8_fail_naming_line_and_byte_even_past_the_first_chunk() -> None:
    rows = b"".join(b"row%d,x\r\n" % i for i in range(5000))  # far beyond the text reader's first chunk
    body = b"First name,Last\r\n" + rows + b"bad,\xe2\x82\r\n"
    with pytest.raises(CsvExportError) as raised:
        list(_v3().decode(_response(body)))
    assert raised.value.message == (
        "Stream cc_contacts_export: the export file https://files.example.com/x.csv is broken: "
        f"line 5002 (byte {len(body) - 4}) has bytes that are not UTF-8 (e282)."
    )


# ---------------------------------------------------------------- AccessTokenAuthenticator

REJECTED = "Constant Contact v3 rejected the access token (HTTP 401/403): put a valid access token in constant_contact.credentials."


def _authenticator() -> AccessTokenAuthenticator:
    return AccessTokenAuthenticator(
        config=v3_access_token_config(),
        parameters={},
        access_token="{{ config['constant_contact']['credentials'].get('access_token', '') }}",
        rejected_message=REJECTED,
    )


def test_the_configured_access_token_is_sent_as_bearer() -> None:
    request = requests.Request("GET", f"{V3_URL}/contact_lists", auth=_authenticator()).prepare()

    assert request.headers["Authorization"] == "Bearer test-v3-token"


def test_asked_to_refresh_it_fails_as_a_config_error_with_the_rejected_message() -> None:
    with pytest.raises(AirbyteTracedException) as raised:
        _authenticator().refresh_and_set_access_token()

    assert raised.value.failure_type == FailureType.config_error
    assert raised.value.message == REJECTED


# ---------------------------------------------------------------- V2ListPartitionRouter


def _router(config: dict) -> tuple:
    every_list = MagicMock(spec=PartitionRouter)
    return V2ListPartitionRouter(every_list=every_list, config=config, parameters={}), every_list


def test_configured_list_ids_are_the_partitions_as_strings_without_asking_for_the_lists() -> None:
    router, every_list = _router(v2_config(list_ids=[7, "opted-out"]))

    slices = list(router.stream_slices())

    assert [(s.partition, s.cursor_slice) for s in slices] == [({"list_id": "7"}, {}), ({"list_id": "opted-out"}, {})]
    assert every_list.method_calls == []
    assert router.get_stream_state() is None


def test_without_list_ids_the_partitions_and_state_are_those_of_every_list() -> None:
    parent_slices = [StreamSlice(partition={"list_id": "1", "parent_slice": {}}, cursor_slice={})]
    router, every_list = _router(v2_config())
    every_list.stream_slices.return_value = iter(parent_slices)
    every_list.get_stream_state.return_value = {"parent_state": {"cc_v2_lists": {"modified_date": "2024-05-01T00:00:00.000Z"}}}

    assert list(router.stream_slices()) == parent_slices
    assert router.get_stream_state() == {"parent_state": {"cc_v2_lists": {"modified_date": "2024-05-01T00:00:00.000Z"}}}


def test_the_list_id_goes_into_no_request_option() -> None:
    router, _ = _router(v2_config(list_ids=["1"]))
    options = {"stream_slice": StreamSlice(partition={"list_id": "1"}, cursor_slice={})}

    assert [router.get_request_params(**options), router.get_request_headers(**options),
            router.get_request_body_data(**options), router.get_request_body_json(**options)] == [{}, {}, {}, {}]


# ---- OptOutsPagination


def _contacts_page(url: str, next_href: Optional[str] = None) -> requests.Response:
    response = requests.Response()
    response.request = requests.Request("GET", url).prepare()
    response._content = json.dumps({"contacts": [], "_links": {"next": {"href": next_href}} if next_href else {}}).encode()
    return response


# The window [2024-01-01, 2024-01-31) as cc_contacts sends it, one second wider at its start.
WINDOW_QUERY = "https://api.cc.email/v3/contacts?limit=500&status=all&updated_after=2023-12-31T23%3A59%3A59Z&updated_before=2024-01-31T00%3A00%3A00Z"


def test_opt_outs_query_asks_for_the_window_s_opt_outs_last_updated_before_it() -> None:
    assert opt_outs_query(WINDOW_QUERY) == (
        "/v3/contacts?limit=500&status=all&updated_before=2024-01-01T00%3A00%3A00Z"
        "&optout_after=2023-12-31T23%3A59%3A59Z&optout_before=2024-01-31T00%3A00%3A00Z"
    )


def test_opt_outs_pagination_follows_next_links_then_reads_the_opt_outs_of_the_window_then_stops() -> None:
    pagination = OptOutsPagination(config={}, parameters={})
    page_2 = pagination.next_page_token(_contacts_page(WINDOW_QUERY, "/v3/contacts?cursor=u2"), 500, None, None)
    opt_outs = pagination.next_page_token(_contacts_page("https://api.cc.email/v3/contacts?cursor=u2"), 3, None, page_2)
    opt_outs_2 = pagination.next_page_token(_contacts_page("https://api.cc.email" + opt_outs, "/v3/contacts?cursor=o2"), 500, None, opt_outs)
    end = pagination.next_page_token(_contacts_page("https://api.cc.email/v3/contacts?cursor=o2"), 1, None, opt_outs_2)

    assert (page_2, opt_outs, opt_outs_2, end) == ("/v3/contacts?cursor=u2", opt_outs_query(WINDOW_QUERY), "/v3/contacts?cursor=o2", None)


def test_opt_outs_pagination_reads_the_opt_outs_of_a_window_whose_updated_query_has_one_page() -> None:
    pagination = OptOutsPagination(config={}, parameters={})
    opt_outs = pagination.next_page_token(_contacts_page(WINDOW_QUERY), 0, None, None)

    assert opt_outs == opt_outs_query(WINDOW_QUERY)
    assert pagination.next_page_token(_contacts_page("https://api.cc.email" + opt_outs), 0, None, opt_outs) is None


# ---- FirstSeenListsStartAtStartDate


def test_the_fallback_cursor_for_lists_not_in_state_is_dropped_and_the_rest_kept() -> None:
    migration = FirstSeenListsStartAtStartDate(config={}, parameters={})
    saved = {"states": [{"partition": {"list_id": "1"}, "cursor": {"updated_at": "2025-01-01T00:00:00.000Z"}}],
             "state": {"updated_at": "2025-01-01T00:00:00.000Z"}, "lookback_window": 3, "use_global_cursor": False}

    assert migration.should_migrate(saved)
    assert migration.migrate(saved) == {"states": saved["states"], "lookback_window": 3, "use_global_cursor": False}


@pytest.mark.parametrize(
    "state",
    [{"updated_at": "2025-01-01T00:00:00.000Z"},  # one cursor for every list, as a user may write it
     {"states": [], "state": {"updated_at": "2025-01-01T00:00:00.000Z"}, "use_global_cursor": True},  # past the CDK's list limit
     {"states": [{"partition": {"list_id": "1"}, "cursor": {"updated_at": "2025-01-01T00:00:00.000Z"}}]}],
)
def test_states_without_a_fallback_cursor_or_relying_on_it_are_left_alone(state: dict) -> None:
    assert not FirstSeenListsStartAtStartDate(config={}, parameters={}).should_migrate(state)


def test_a_file_without_its_primary_key_column_fails_naming_the_column() -> None:
    decoder = CsvExportDecoder(parameters={"name": "cc_contacts_export"}, labels={"Email address": "email_address"},
                               type_suffix=True, key_fields=["email_address"])
    with pytest.raises(CsvExportError) as error:
        list(decoder.decode(_response("First name,E-Mail-Adresse - other\r\nZoë,z@example.com\r\n".encode())))
    assert error.value.message == (
        "Stream cc_contacts_export: the export file https://files.example.com/x.csv is broken: it has no column for "
        "email_address, the records' primary key (its header: First name, E-Mail-Adresse - other)."
    )


def test_two_custom_columns_of_one_label_fail_naming_it() -> None:
    with pytest.raises(CsvExportError) as error:
        _v3_every_field().columns(["Email address - other", "Favorite Color", "Favorite Color"], "file.csv")
    assert "its columns 'Favorite Color' and 'Favorite Color' both hold the custom field 'Favorite Color'; one would be lost" in error.value.message
