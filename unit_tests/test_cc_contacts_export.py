"""cc_contacts_export: the v3 CSV export job lifecycle, re-created jobs, label mapping, custom fields, nulls, dates, row
counts, field size, bytes that are not UTF-8, client-side incremental."""

import json
from typing import Any, List, Optional, Union

import pytest

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from tests.support.builders import (
    V3_URL,
    StrictHttpMocker,
    emitted_states,
    final_state,
    run_read,
    stream_error,
    stream_state,
    v3_access_token_config,
)

STREAM = "cc_contacts_export"
ACTIVITY = "118e461a-0c9e-11ea-b1f5-fa163e6b01c1"
FILE_ID = "118ceeaa-0c9e-11ea-b1f5-fa163e6b01c1"
# No `fields` (every field, custom ones too); `exclude` keeps the body a JSON object.
EVERY_FIELD = {"exclude": []}
# The docs' example file: human labels in the server's own order, both date forms; plus a BOM, a quoted
# comma, an embedded newline, non-ASCII text and a custom field.
CSV_BODY = (
    "\ufeffFirst name,Last name,Email address - other,Company Name,Phone number - home,Favorite Color,Updated At\r\n"
    'Dipali,Nipperdipper,ddipper@example.com,"Smith, Jones & ""Partners""",555-0100,blue,2018-11-29 15:10:15 -0500\r\n'
    'Jake,Dodge,jdodge@jdogepancakes.com,"Head of\nPancakes",,"sea ""foam"" green",2019-11-25T16:29:13.057 -0500\r\n'
    "Zoë,山田,zoe@example.com,Müller & Söhne GmbH,,,2019-11-25T21:29:14.000Z\r\n"
)
# The one export slice runs from start_date to the sync start (pinned by the sync_started_at fixture).
SLICE = "{'start_time': '2018-01-01T00:00:00.000Z', 'end_time': '2024-03-20T12:00:00.000Z'}"

pytestmark = pytest.mark.usefixtures("sync_started_at")


def v3_config(**section: object) -> dict:
    return {**v3_access_token_config(**section), "start_date": "2018-01-01T00:00:00Z"}


def _activity(state: str, activity_id: str = ACTIVITY) -> HttpResponse:
    body = {
        "activity_id": activity_id,
        "state": state,
        "percent_done": 100 if state == "completed" else 0,
        "activity_errors": [],
        "_links": {"self": {"href": f"/v3/activities/{activity_id}"}, "results": {"href": f"/v3/contact_exports/{FILE_ID}"}},
    }
    return HttpResponse(json.dumps(body), 201 if state == "initialized" else 200)


def _create_request(body: Optional[dict] = None) -> HttpRequest:
    return HttpRequest(
        f"{V3_URL}/activities/contact_exports",
        headers={"Authorization": "Bearer test-v3-token"},
        body=body or EVERY_FIELD,
    )


def _poll_request(activity_id: str = ACTIVITY) -> HttpRequest:
    return HttpRequest(f"{V3_URL}/activities/{activity_id}", headers={"Authorization": "Bearer test-v3-token"})


def _file_request() -> HttpRequest:
    return HttpRequest(f"{V3_URL}/contact_exports/{FILE_ID}", headers={"Accept": "text/csv", "Authorization": "Bearer test-v3-token"})


def _emails(output) -> List[str]:
    return [record.record.data["email_address"] for record in output.records]


def test_job_lifecycle_maps_labels_and_normalizes_dates() -> None:
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_create_request(), _activity("initialized"))
        http_mocker.get(_poll_request(), [_activity("initialized"), _activity("processing"), _activity("completed")])
        http_mocker.get(_file_request(), HttpResponse(CSV_BODY, 200, {"Content-Type": "text/csv"}))

        output = run_read(v3_config(), STREAM)

    assert output.errors == []
    assert [r.record.data for r in output.records] == [
        {
            "first_name": "Dipali", "last_name": "Nipperdipper", "email_address": "ddipper@example.com",
            "company_name": 'Smith, Jones & "Partners"', "phone_number": "555-0100", "custom_fields": {"Favorite Color": "blue"},
            "updated_at": "2018-11-29T20:10:15.000Z",
        },
        {
            "first_name": "Jake", "last_name": "Dodge", "email_address": "jdodge@jdogepancakes.com",
            "company_name": "Head of\nPancakes", "custom_fields": {"Favorite Color": 'sea "foam" green'},
            "updated_at": "2019-11-25T21:29:13.057Z",
        },
        {
            "first_name": "Zoë", "last_name": "山田", "email_address": "zoe@example.com", "company_name": "Müller & Söhne GmbH",
            "updated_at": "2019-11-25T21:29:14.000Z",
        },
    ]


def test_export_list_ids_and_status_go_into_the_body() -> None:
    with StrictHttpMocker() as http_mocker:
        body = {**EVERY_FIELD, "list_ids": ["l1", "l2"], "status": "active"}
        http_mocker.post(_create_request(body), _activity("initialized"))
        http_mocker.get(_poll_request(), _activity("completed"))
        http_mocker.get(_file_request(), HttpResponse(CSV_BODY, 200))

        output = run_read(v3_config(export_list_ids=["l1", "l2"], export_status="active"), STREAM)

    assert len(output.records) == 3


def test_failed_and_timed_out_jobs_are_created_again_with_the_same_body() -> None:
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_create_request(), [_activity("initialized", "a1"), _activity("initialized", "a2"), _activity("initialized", "a3")])
        http_mocker.get(_poll_request("a1"), _activity("failed", "a1"))
        http_mocker.get(_poll_request("a2"), _activity("timed_out", "a2"))
        http_mocker.get(_poll_request("a3"), _activity("completed", "a3"))
        http_mocker.get(_file_request(), HttpResponse(CSV_BODY, 200))

        output = run_read(v3_config(), STREAM)

        creations = http_mocker.sent("POST")
    assert output.errors == []
    assert _emails(output) == ["ddipper@example.com", "jdodge@jdogepancakes.com", "zoe@example.com"]
    # The same export asked for again after each failed job: three creations in all.
    assert [request.json() for request in creations] == [EVERY_FIELD] * 3


def test_a_job_failing_every_attempt_fails_the_stream_naming_it() -> None:
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_create_request(), [_activity("initialized", f"a{n}") for n in range(3)])
        for n in range(3):
            http_mocker.get(_poll_request(f"a{n}"), _activity("cancelled", f"a{n}"))

        output = run_read(v3_config(), STREAM, expecting_exception=True)

    # Three attempts (the CDK default), each a new POST: StrictHttpMocker checks every mocked response was used.
    assert output.records == []
    assert stream_error(output, STREAM) == (
        f"Stream {STREAM}: the export job failed for slice {SLICE} (status FAILED after 3 attempts). Other slices were read."
    )


def test_a_row_with_the_wrong_field_count_fails_naming_stream_slice_and_line() -> None:
    broken = CSV_BODY.replace("jdodge@jdogepancakes.com,", "jdodge@jdogepancakes.com,extra,", 1)
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_create_request(), _activity("initialized"))
        http_mocker.get(_poll_request(), _activity("completed"))
        http_mocker.get(_file_request(), HttpResponse(broken, 200))

        state = stream_state(STREAM, {"updated_at": "2018-01-01T00:00:00.000Z"})
        output = run_read(v3_config(), STREAM, SyncMode.incremental, state=state, expecting_exception=True)

    assert _emails(output) == ["ddipper@example.com"]
    assert stream_error(output, STREAM) == (
        f"Stream {STREAM}: the export file {V3_URL}/contact_exports/{FILE_ID} is broken: "
        f"row 2 (line 4) has 8 fields, the header has 7. Slice: {SLICE}."
    )
    # The state never moves past the rows not emitted: the one state emitted is the incoming one.
    assert emitted_states(output) == [{"updated_at": "2018-01-01T00:00:00.000Z"}]


def test_an_empty_export_is_zero_records() -> None:
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_create_request(), _activity("initialized"))
        http_mocker.get(_poll_request(), _activity("completed"))
        http_mocker.get(_file_request(), HttpResponse("", 200))

        output = run_read(v3_config(), STREAM)

    assert output.errors == []
    assert output.records == []


def test_incremental_keeps_records_at_or_after_the_state_and_saves_the_newest() -> None:
    state = stream_state(STREAM, {"updated_at": "2019-11-25T21:29:13.900Z"})
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_create_request(), _activity("initialized"))
        http_mocker.get(_poll_request(), _activity("completed"))
        http_mocker.get(_file_request(), HttpResponse(CSV_BODY, 200))

        output = run_read(v3_config(), STREAM, SyncMode.incremental, state=state)

    # Compared at one-second granularity (one CSV date form has no fraction): 21:29:13.057 is kept, 2018 is not.
    assert _emails(output) == ["jdodge@jdogepancakes.com", "zoe@example.com"]
    assert final_state(output) == {"updated_at": "2019-11-25T21:29:14.000Z"}


def _completed(rows: int) -> HttpResponse:
    """The completed activity, counting `rows` contacts as the real one does."""
    body = json.loads(_activity("completed").body)
    return HttpResponse(json.dumps({**body, "status": {"items_total_count": rows, "items_completed_count": rows}}), 200)


def _read_export(file: Union[str, bytes], rows: int, sync_mode: SyncMode = SyncMode.full_refresh, **read: Any) -> EntrypointOutput:
    """A read of one export job whose completed activity counts `rows` and whose file is `file`."""
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_create_request(), _activity("initialized"))
        http_mocker.get(_poll_request(), _completed(rows))
        http_mocker.get(_file_request(), HttpResponse(file, 200))
        return run_read(v3_config(), STREAM, sync_mode, **read)


def test_a_file_with_fewer_rows_than_the_activity_counted_fails_naming_both_counts_without_advancing_state() -> None:
    state = stream_state(STREAM, {"updated_at": "2018-01-01T00:00:00.000Z"})
    output = _read_export(CSV_BODY, 4, SyncMode.incremental, state=state, expecting_exception=True)

    assert len(output.records) == 3  # read, then found short: the state does not move past them
    assert stream_error(output, STREAM) == (
        f"Stream {STREAM}: the export file {V3_URL}/contact_exports/{FILE_ID} is broken: "
        f"it has 3 rows where Constant Contact reported 4. Slice: {SLICE}."
    )
    assert emitted_states(output) == [{"updated_at": "2018-01-01T00:00:00.000Z"}]


def test_a_file_with_as_many_rows_as_counted_is_read() -> None:
    output = _read_export(CSV_BODY, 3)

    assert output.errors == []
    assert _emails(output) == ["ddipper@example.com", "jdodge@jdogepancakes.com", "zoe@example.com"]


def test_dates_are_yyyy_mm_dd_a_birthday_without_a_year_is_null_and_empty_cells_are_left_out() -> None:
    body = (
        "First name,Email address - other,Birthday,Birthday month,Birthday day,Anniversary,Email optout reason,Updated At\r\n"
        "Ann,ann@example.com,12/25,12,25,6/20/2015,,2024-01-02 03:04:05 -0500\r\n"
        "Bob,bob@example.com,1980-02-03,,,2015/6/2,,\r\n"
    )
    output = _read_export(body, 2)

    assert [r.record.data for r in output.records] == [
        {"first_name": "Ann", "email_address": "ann@example.com", "birthday_month": "12", "birthday_day": "25",
         "anniversary": "2015-06-20", "updated_at": "2024-01-02T08:04:05.000Z"},
        {"first_name": "Bob", "email_address": "bob@example.com", "birthday": "1980-02-03", "anniversary": "2015-06-02"},
    ]


def test_a_field_over_128_kb_is_read_whole() -> None:
    notes = ('A long note, "quoted",\nover lines. ' * 7000)[:200_000]
    quoted = notes.replace('"', '""')
    body = f'Email address - other,Notes\r\nann@example.com,"{quoted}"\r\nbob@example.com,short\r\n'
    output = _read_export(body, 2)

    assert output.errors == []
    assert [r.record.data["notes"] for r in output.records] == [notes, "short"]


def test_a_byte_that_is_not_utf8_fails_naming_file_and_line() -> None:
    body = "Email address - other,First name\r\nann@example.com,Ann\r\nbob@example.com,Bo".encode() + b"\xff" + b"b\r\n"
    output = _read_export(body, 2, expecting_exception=True)

    assert stream_error(output, STREAM) == (
        f"Stream {STREAM}: the export file {V3_URL}/contact_exports/{FILE_ID} is broken: "
        f"line 3 (byte 73) has bytes that are not UTF-8 (ff). Slice: {SLICE}."
    )
