"""The emulator's export files as the connector meets them: every column without `fields`, the counts the activities
report, and the CSV faults (a short file, a long field, a byte that is not UTF-8) and a download reset half way."""
from __future__ import annotations

import base64
import csv
import io

import pytest
import requests

from emulator import Emulator
from emulator.common import long_field_value

V2_KEY = {"api_key": "emu-v2-api-key"}
V2_AUTH = {"Authorization": "Bearer emu-v2-access-token"}
COMETLY_AUTH = {"Authorization": "Bearer emu-cometly-key"}
# The v3 export's columns without `fields`, in the emulator's order: every documented field, custom fields after Notes.
V3_LABELS = [
    "First name", "Last name", "Email address - other", "Email permission", "Email optin", "Email optin source",
    "Email optin date", "Email optout source", "Email optout date", "Email optout reason", "Phone number - home",
    "Company Name", "Job Title", "Website", "Social profiles", "Street - home", "City - home", "State - home",
    "Zip - home", "Country - home", "Birthday", "Birthday month", "Birthday day", "Anniversary", "Email lists", "Notes",
    "Favorite Color", "Shoe Size", "Referral Code", "Source name", "Created At", "Updated At",
]


@pytest.fixture(scope="module")
def emu():
    with Emulator(seed=7) as emulator:
        emulator.faults.job_polls_until_done = 0
        yield emulator


@pytest.fixture(autouse=True)
def clean(emu):
    emu.faults.reset()
    emu.faults.job_polls_until_done = 0
    yield


@pytest.fixture()
def v3(emu):
    """A session with a fresh v3 access token."""
    basic = "Basic " + base64.b64encode(b"emu-client-id:emu-client-secret").decode()
    with requests.Session() as session:
        token = session.post(emu.config()["constant_contact"]["token_url"], headers={"Authorization": basic},
                             data={"grant_type": "refresh_token", "refresh_token": emu.current_refresh_token}).json()
        session.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield session


def v3_export(emu, http, body: dict) -> tuple[dict, requests.Response]:
    """Create a v3 export, poll it once (complete), download its file: (the completed activity, the file)."""
    created = http.post(f"{emu.url}/v3/activities/contact_exports", json=body)
    assert created.status_code == 201, created.text
    activity = http.get(f"{emu.url}/v3/activities/{created.json()['activity_id']}").json()
    return activity, http.get(emu.url + activity["_links"]["results"]["href"], headers={"Accept": "text/csv"})


def v2_export(emu, list_id: str) -> tuple[dict, requests.Response]:
    body = {"lists": [list_id], "file_type": "CSV", "sort_by": "EMAIL_ADDRESS", "export_date_added": True,
            "export_added_by": True, "column_names": ["EMAIL", "FIRST NAME", "CUSTOM FIELD 15"]}
    created = requests.post(f"{emu.url}/v2/activities/exportcontacts", params=V2_KEY, headers=V2_AUTH, json=body)
    activity = requests.get(f"{emu.url}/v2/activities/{created.json()['id']}", params=V2_KEY, headers=V2_AUTH).json()
    return activity, requests.get(activity["file_name"], params=V2_KEY, headers=V2_AUTH)


def rows(response: requests.Response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


def test_a_v3_export_without_fields_has_every_column_and_custom_fields_under_their_labels(emu, v3):
    activity, file = v3_export(emu, v3, {"exclude": []})

    header, *data = rows(file)
    assert header == V3_LABELS
    assert activity["status"]["items_total_count"] == len(data) == len(emu.data.cc_v3_contacts)
    truth = {c["email_address"]["address"]: c for c in emu.data.cc_v3_contacts}
    labels = {f["custom_field_id"]: f["label"] for f in emu.data.cc_v3_custom_fields}
    for row in data:
        record = dict(zip(header, row))
        contact = truth[record["Email address - other"]]
        custom = {label: record[label] for label in labels.values() if record[label]}
        assert custom == {labels[cf["custom_field_id"]]: cf["value"] for cf in contact["custom_fields"]}
        birthday = f"{contact['birthday_month']}/{contact['birthday_day']}" if "birthday_month" in contact else ""
        assert (record["Birthday"], record["Birthday month"]) == (birthday, str(contact.get("birthday_month", "")))
        if "anniversary" in contact:
            year, month, day = contact["anniversary"].split("-")
            assert record["Anniversary"] == f"{int(month)}/{int(day)}/{year}"
    assert any(len(c["custom_fields"]) == 3 for c in truth.values()) and any(not c["custom_fields"] for c in truth.values())


def test_exclude_leaves_contacts_out_and_the_count_follows(emu, v3):
    left_out = [c["contact_id"] for c in emu.data.cc_v3_contacts[:3]]
    activity, file = v3_export(emu, v3, {"exclude": left_out, "fields": ["email_address"]})

    emails = {row[0] for row in rows(file)[1:]}
    assert activity["status"]["items_total_count"] == len(emails) == len(emu.data.cc_v3_contacts) - 3
    assert not emails & {c["email_address"]["address"] for c in emu.data.cc_v3_contacts[:3]}
    refused = v3.post(f"{emu.url}/v3/activities/contact_exports", json={"exclude": "nobody"})
    assert (refused.status_code, refused.json()["error_key"]) == (400, "json.field.exclude.invalid")


def test_a_short_csv_file_is_well_formed_and_one_row_short_of_the_reported_count_once(emu, v3):
    emu.faults.short_csv_files("cc_v3", times=1)
    activity, short = v3_export(emu, v3, {"fields": ["email_address"]})
    whole = v3.get(short.url, headers={"Accept": "text/csv"})

    assert short.content.endswith(b"\r\n")
    assert rows(short) == rows(whole)[:-1]
    assert len(rows(whole)) - 1 == activity["status"]["items_total_count"]

    emu.faults.short_csv_files("cc_v2", times=1)
    v2_activity, v2_short = v2_export(emu, "4")
    assert len(rows(v2_short)) - 1 == v2_activity["contact_count"] - 1 == 3


@pytest.fixture()
def big_csv_fields():
    """Python's csv reads fields up to 128 KB unless told otherwise (a process-wide setting): lifted for one test."""
    default = csv.field_size_limit(1 << 20)
    yield
    csv.field_size_limit(default)


def test_a_long_field_is_written_whole_in_the_named_row_and_column(emu, v3, big_csv_fields):
    emu.faults.long_csv_field("cc_v3", row_no=2, size=200_000)
    _, file = v3_export(emu, v3, {"fields": ["email_address", "notes"]})

    header, *data = rows(file)
    assert header == ["Email address - other", "Notes"]
    assert data[1][1] == long_field_value(200_000) and len(data[1][1]) == 200_000
    assert '"' in data[1][1] and "\n" in data[1][1] and "," in data[1][1]
    assert all(len(row[1]) < 1000 for i, row in enumerate(data) if i != 1)

    emu.faults.long_csv_field("cc_v2", row_no=1, size=150_000)
    _, v2_file = v2_export(emu, "4")
    assert rows(v2_file)[1][2] == long_field_value(150_000)


def test_a_non_utf8_byte_lands_after_the_first_name_of_the_named_row(emu, v3):
    emu.faults.non_utf8_csv_byte("cc_v3", row_no=3)
    _, file = v3_export(emu, v3, {"fields": ["first_name", "email_address"]})

    lines = file.content.split(b"\r\n")
    bad = [i for i, line in enumerate(lines) if b"\xff" in line]
    assert len(bad) == 1 and lines[bad[0]].split(b",")[0].endswith(b"\xff")
    with pytest.raises(UnicodeDecodeError):
        file.content.decode("utf-8")
    # The next file is clean.
    assert b"\xff" not in v3.get(file.url, headers={"Accept": "text/csv"}).content


def test_a_reset_export_download_breaks_off_half_way_once(emu, v3):
    emu.faults.spoil_answers("/v3/contact_exports/", times=1, kind="reset")
    created = v3.post(f"{emu.url}/v3/activities/contact_exports", json={"fields": ["email_address"]}).json()
    activity = v3.get(f"{emu.url}/v3/activities/{created['activity_id']}").json()
    url = emu.url + activity["_links"]["results"]["href"]

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        v3.get(url, headers={"Accept": "text/csv"})
    assert len(rows(v3.get(url, headers={"Accept": "text/csv"}))) == len(emu.data.cc_v3_contacts) + 1


def test_a_completed_cometly_export_reports_no_record_count(emu):
    window = {"start_date": "2024-03-01 00:00:00", "end_date": "2024-03-31 23:59:59"}
    created = requests.post(f"{emu.url}/public-api/v1/contacts/exports", headers=COMETLY_AUTH, json=window).json()
    status = requests.get(f"{emu.url}/public-api/v1/contacts/exports/{created['export_id']}", headers=COMETLY_AUTH)

    assert status.json()["status"] == "completed"
    assert set(status.json()) == {"export_id", "status", "created_at", "completed_at", "download_url", "expires_at"}
