"""cc_v2_contacts_export: one CSV export job per list, api_key on the file, ERROR jobs re-created, label mapping."""

import json
from typing import Optional

from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from tests.support.builders import V2_URL, StrictHttpMocker, run_read, stream_error, v2_config

STREAM = "cc_v2_contacts_export"
AUTH = {"Authorization": "Bearer test-v2-token"}
KEY = {"api_key": "test-v2-key"}
COLUMNS = [
    "EMAIL", "FIRST NAME", "MIDDLE NAME", "LAST NAME", "JOB TITLE", "COMPANY NAME", "WORK PHONE", "HOME PHONE",
    "ADDRESS LINE 1", "ADDRESS LINE 2", "ADDRESS LINE 3", "CITY", "STATE", "STATE/PROVINCE (INTL)", "COUNTRY",
    "POSTAL CODE", "SUB POSTAL CODE", *[f"CUSTOM FIELD {n}" for n in range(1, 16)],
]
HEADER = "Email,First Name,Last Name,State/Province (Intl),Custom Field 3,Date Added,Added By\r\n"

def _create_request(list_id: str) -> HttpRequest:
    body = {
        "lists": [list_id], "file_type": "CSV", "sort_by": "EMAIL_ADDRESS", "export_date_added": True,
        "export_added_by": True, "column_names": COLUMNS,
    }
    return HttpRequest(f"{V2_URL}/activities/exportcontacts", query_params=KEY, headers=AUTH, body=body)


def _created(activity_id: str) -> HttpResponse:
    return HttpResponse(json.dumps({"id": activity_id, "type": "EXPORT_CONTACTS", "error_count": 0}), 201)


def _poll_request(activity_id: str) -> HttpRequest:
    return HttpRequest(f"{V2_URL}/activities/{activity_id}", query_params=KEY, headers=AUTH)


def _activity(activity_id: str, status: str) -> HttpResponse:
    body = {"id": activity_id, "type": "EXPORT_CONTACTS", "status": status, "error_count": int(status == "ERROR")}
    if status in ("COMPLETE", "ERROR"):
        body["file_name"] = f"https://api.constantcontact.com/v2/exports/{activity_id}.csv"
    return HttpResponse(json.dumps(body), 200)


def _file_request(activity_id: str) -> HttpRequest:
    return HttpRequest(f"https://api.constantcontact.com/v2/exports/{activity_id}.csv", query_params=KEY, headers={**AUTH, "Accept": "text/csv"})


def _csv(*rows: str) -> HttpResponse:
    return HttpResponse(HEADER + "".join(rows), 200, {"Content-Type": "text/csv; charset=UTF-8"})


def _mock_job(http_mocker: StrictHttpMocker, list_id: str, activity_id: str, file: Optional[HttpResponse]) -> None:
    http_mocker.post(_create_request(list_id), _created(activity_id))
    http_mocker.get(_poll_request(activity_id), [_activity(activity_id, "QUEUED"), _activity(activity_id, "RUNNING"), _activity(activity_id, "COMPLETE")])
    if file:
        http_mocker.get(_file_request(activity_id), file)


def test_one_job_per_list_of_get_lists_with_list_id_and_snake_case_fields() -> None:
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(HttpRequest(f"{V2_URL}/lists", query_params=KEY, headers=AUTH), HttpResponse(json.dumps([{"id": "1"}, {"id": "2"}]), 200))
        _mock_job(http_mocker, "1", "act-1", _csv(
            'ann@example.com,Ann,"O\'Brien, Jr.",Małopolskie,"red,\nblue",2024-03-01T10:00:00.000Z,ACTION_BY_OWNER\r\n',
        ))
        _mock_job(http_mocker, "2", "act-2", _csv(
            "bob@example.com,Bob,Baker,,,2018-11-29 15:10:15 -0500,ACTION_BY_VISITOR\r\n",
            "zoe@example.com,Zoë,山田,,,2019-11-25T16:29:13.057 -0500,ACTION_BY_OWNER\r\n",
        ))

        output = run_read(v2_config(), STREAM)

    assert output.errors == []
    by_key = {(r.record.data["list_id"], r.record.data["email"]): r.record.data for r in output.records}
    assert sorted(by_key) == [("1", "ann@example.com"), ("2", "bob@example.com"), ("2", "zoe@example.com")]
    assert by_key[("1", "ann@example.com")] == {
        "email": "ann@example.com", "first_name": "Ann", "last_name": "O'Brien, Jr.", "state_province_intl": "Małopolskie",
        "custom_field_3": "red,\nblue", "date_added": "2024-03-01T10:00:00.000Z", "added_by": "ACTION_BY_OWNER", "list_id": "1",
    }
    assert by_key[("2", "bob@example.com")]["date_added"] == "2018-11-29T20:10:15.000Z"
    assert by_key[("2", "zoe@example.com")]["date_added"] == "2019-11-25T21:29:13.057Z"


def test_configured_lists_including_system_lists_need_no_list_call() -> None:
    with StrictHttpMocker() as http_mocker:
        _mock_job(http_mocker, "opted-out", "act-o", _csv("out@example.com,Out,Side,,,2024-01-02T00:00:00.000Z,ACTION_BY_OWNER\r\n"))

        output = run_read(v2_config(list_ids=["opted-out"]), STREAM)

    assert [(r.record.data["list_id"], r.record.data["email"]) for r in output.records] == [("opted-out", "out@example.com")]


def test_an_errored_job_is_created_again_for_the_same_list() -> None:
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_create_request("1"), [_created("bad"), _created("good")])
        http_mocker.get(_poll_request("bad"), _activity("bad", "ERROR"))
        http_mocker.get(_poll_request("good"), _activity("good", "COMPLETE"))
        http_mocker.get(_file_request("good"), _csv("ann@example.com,Ann,A,,,,\r\n"))

        output = run_read(v2_config(list_ids=["1"]), STREAM)

        creations = [request.json()["lists"] for request in http_mocker.sent("POST")]
    assert output.errors == []
    assert creations == [["1"], ["1"]]
    assert [r.record.data["email"] for r in output.records] == ["ann@example.com"]
    assert output.records[0].record.data.get("date_added") is None  # an empty date cell is null, not ""


def test_a_list_erroring_every_attempt_fails_naming_stream_and_list_after_the_other_lists_are_read() -> None:
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_create_request("7"), [_created(f"e{n}") for n in range(3)])
        for n in range(3):
            http_mocker.get(_poll_request(f"e{n}"), _activity(f"e{n}", "ERROR"))
        _mock_job(http_mocker, "8", "act-8", _csv("ann@example.com,Ann,A,,,,\r\n"))

        output = run_read(v2_config(list_ids=["7", "8"]), STREAM, expecting_exception=True)

    assert [(r.record.data["list_id"], r.record.data["email"]) for r in output.records] == [("8", "ann@example.com")]
    assert stream_error(output, STREAM) == (
        f"Stream {STREAM}: the export job failed for slice {{'list_id': '7'}} (status FAILED after 3 attempts). Other slices were read."
    )


def test_a_row_with_the_wrong_field_count_fails_naming_stream_list_and_line() -> None:
    with StrictHttpMocker() as http_mocker:
        _mock_job(http_mocker, "1", "act-1", _csv(
            "ann@example.com,Ann,A,,,,\r\n",
            'bob@example.com,Bob,"B\nB",,,,,surplus\r\n',
        ))

        output = run_read(v2_config(list_ids=["1"]), STREAM, expecting_exception=True)

    assert [r.record.data["email"] for r in output.records] == ["ann@example.com"]
    # Lines count the newline inside the quoted field; the file is named without its query (no api_key).
    assert stream_error(output, STREAM) == (
        f"Stream {STREAM}: the export file https://api.constantcontact.com/v2/exports/act-1.csv is broken: "
        "row 2 (line 4) has 8 fields, the header has 7. Slice: {'list_id': '1'}."
    )


def test_a_file_with_another_number_of_rows_than_the_activity_counted_fails_naming_list_and_counts() -> None:
    completed = json.loads(_activity("act-1", "COMPLETE").body)
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_create_request("1"), _created("act-1"))
        http_mocker.get(_poll_request("act-1"), HttpResponse(json.dumps({**completed, "contact_count": 3}), 200))
        http_mocker.get(_file_request("act-1"), _csv("ann@example.com,Ann,A,,,,\r\n", "bob@example.com,Bob,B,,,,\r\n"))
        _mock_job(http_mocker, "2", "act-2", _csv("cy@example.com,Cy,C,,,,\r\n"))

        output = run_read(v2_config(list_ids=["1", "2"]), STREAM, expecting_exception=True)

    assert sorted((r.record.data["list_id"], r.record.data["email"]) for r in output.records) == [
        ("1", "ann@example.com"), ("1", "bob@example.com"), ("2", "cy@example.com")]
    assert stream_error(output, STREAM) == (
        f"Stream {STREAM}: the export file https://api.constantcontact.com/v2/exports/act-1.csv is broken: "
        "it has 2 rows where Constant Contact reported 3. Slice: {'list_id': '1'}."
    )
