"""The Constant Contact CSV exports (v3 cc_contacts_export, v2 cc_v2_contacts_export) against the emulator."""

import copy
from datetime import datetime, timezone
from typing import Dict, List, Optional

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput

from emulator import Emulator
from unit_tests.builders import run_read

V3 = "cc_contacts_export"
V2 = "cc_v2_contacts_export"


def _read(config: dict, stream: str, sync_mode: SyncMode = SyncMode.full_refresh, state: Optional[list] = None,
          expecting_exception: bool = False) -> EntrypointOutput:
    # The CDK writes refreshed tokens into the config it is given: keep the caller's copy intact.
    return run_read(copy.deepcopy(config), stream, sync_mode, state=state, expecting_exception=expecting_exception)


def _v3_only(emu: Emulator, **section: object) -> dict:
    config = emu.config()
    # Access-token mode: the rotating refresh token would be spent by the first of several syncs.
    credentials = {"auth_type": "access_token", "access_token": emu.issue_access_token()}
    return {"start_date": config["start_date"], "constant_contact": {**config["constant_contact"], "credentials": credentials, **section}}


def _v2_only(emu: Emulator, **section: object) -> dict:
    config = emu.config()
    return {"start_date": config["start_date"], "constant_contact_v2": {**config["constant_contact_v2"], **section}}


def _utc(stamp: str) -> str:
    """The ground truth's RFC 3339 stamp in the connector's fixed-width UTC form."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _v3_truth(emu: Emulator) -> Dict[str, dict]:
    return {c["email_address"]["address"]: c for c in emu.data.cc_v3_contacts}


def test_v3_export_is_every_contact_with_fields_and_dates_as_in_the_ground_truth(emulator: Emulator) -> None:
    output = _read(_v3_only(emulator), V3)

    truth = _v3_truth(emulator)
    records = {r.record.data["email_address"]: r.record.data for r in output.records}
    assert output.errors == []
    assert len(output.records) == len(truth) == len(records)
    assert set(records) == set(truth)
    for email, record in records.items():
        contact = truth[email]
        assert (record["first_name"], record["last_name"], record["company_name"], record["job_title"]) == (
            contact["first_name"], contact["last_name"], contact["company_name"], contact["job_title"])
        assert record["updated_at"] == _utc(contact["updated_at"])
        assert record["created_at"] == _utc(contact["created_at"])
    # The CSV hazards the dataset plants came through intact.
    assert any("," in r["company_name"] and '"' in r["company_name"] for r in records.values())
    assert any("\n" in r["job_title"] for r in records.values())
    assert any(not r["last_name"].isascii() for r in records.values())


def test_v3_export_of_lists_and_status_sends_them_and_reads_exactly_those_contacts(emulator: Emulator) -> None:
    list_ids = [lst["list_id"] for lst in emulator.data.cc_v3_lists[:3]]
    output = _read(_v3_only(emulator, export_list_ids=list_ids, export_status="active"), V3)

    expected = sorted(
        c["email_address"]["address"] for c in emulator.data.cc_v3_contacts
        if set(list_ids) & set(c["list_memberships"]) and emulator.data.v3_status(c) == "active"
    )
    assert 0 < len(expected) < len(emulator.data.cc_v3_contacts)
    assert sorted(r.record.data["email_address"] for r in output.records) == expected
    body = emulator.requests.matching("/v3/activities/contact_exports", "POST")[0].body
    assert b'"list_ids": ["' + list_ids[0].encode() in body and b'"status": "active"' in body


def test_v3_incremental_second_read_returns_what_changed(emulator: Emulator) -> None:
    config = _v3_only(emulator)
    first = _read(config, V3, SyncMode.incremental)
    state = first.most_recent_state.stream_state.__dict__["updated_at"]
    assert state == max(_utc(c["updated_at"]) for c in emulator.data.cc_v3_contacts)

    touched = emulator.touch_v3_contacts([c["contact_id"] for c in emulator.data.cc_v3_contacts[:5]])
    second = _read(config, V3, SyncMode.incremental, state=first.state_messages[-1:] and [first.state_messages[-1].state])

    # Inclusive at one-second granularity: the contacts stamped in the state's second come back too.
    floor = state[:19]
    expected = sorted(e for e, c in _v3_truth(emulator).items() if _utc(c["updated_at"]) >= floor)
    assert {c["email_address"]["address"] for c in touched} <= set(expected)
    assert len(expected) <= 5 + sum(1 for c in emulator.data.cc_v3_contacts if _utc(c["updated_at"])[:19] == floor)
    assert sorted(r.record.data["email_address"] for r in second.records) == expected
    assert second.most_recent_state.stream_state.__dict__["updated_at"] == max(_utc(c["updated_at"]) for c in touched)


def test_v3_failed_jobs_are_created_again(emulator: Emulator) -> None:
    emulator.faults.fail_next_jobs("cc_v3", 1)
    emulator.faults.fail_next_jobs("cc_v3", 1, state="timed_out")

    output = _read(_v3_only(emulator), V3)

    assert output.errors == []
    assert len(output.records) == len(emulator.data.cc_v3_contacts)
    assert len(emulator.requests.matching("/v3/activities/contact_exports", "POST")) == 3


def test_v3_job_failing_every_attempt_fails_naming_the_stream(emulator: Emulator) -> None:
    emulator.faults.fail_next_jobs("cc_v3", 3, state="cancelled")

    output = _read(_v3_only(emulator), V3, expecting_exception=True)

    assert output.records == []
    assert output.errors[0].trace.error.message.startswith(f"Stream {V3}: the export job failed for slice {{'start_time': ")


def test_v3_broken_csv_row_fails_loudly_naming_the_line_with_state_not_advanced(emulator: Emulator) -> None:
    emulator.faults.broken_csv_row("cc_v3", 7)

    output = _read(_v3_only(emulator), V3, SyncMode.incremental, expecting_exception=True)

    assert len(output.records) == 6
    message = output.errors[0].trace.error.message
    assert message.startswith(f"Stream {V3}: the export file ")
    assert "row 7 (line " in message and "Slice: {'start_time': '2024-01-01T00:00:00.000Z'" in message
    assert {m.state.stream.stream_state.__dict__.get("updated_at") for m in output.state_messages} <= {"2024-01-01T00:00:00.000Z"}


def _v2_emails(emu: Emulator, list_id: str) -> List[str]:
    contacts = emu.data.cc_v2_contacts
    return sorted(contacts[cid]["email_addresses"][0]["email_address"] for cid in emu.data.cc_v2_members[list_id])


def test_v2_export_is_one_job_per_list_with_every_member(emulator: Emulator) -> None:
    output = _read(_v2_only(emulator), V2)

    assert output.errors == []
    got = sorted((r.record.data["list_id"], r.record.data["email"]) for r in output.records)
    expected = sorted((lst["id"], email) for lst in emulator.data.cc_v2_lists for email in _v2_emails(emulator, lst["id"]))
    assert got == expected
    assert not [email for list_id, email in got if list_id == "3"]  # the empty list: 0 records, no error
    posts = emulator.requests.matching("/v2/activities/exportcontacts", "POST")
    assert len(posts) == len(emulator.data.cc_v2_lists)
    downloads = emulator.requests.matching("/v2/exports/")
    assert downloads and all(r.query.get("api_key") == "emu-v2-api-key" for r in downloads)
    record = next(r.record.data for r in output.records if r.record.data["list_id"] == "1")
    assert {"email", "first_name", "last_name", "state_province_intl", "custom_field_1", "date_added", "added_by"} <= set(record)
    assert record["date_added"].endswith("Z")


def test_v2_system_list_export(emulator: Emulator) -> None:
    output = _read(_v2_only(emulator, list_ids=["opted-out"]), V2)

    expected = sorted(c["email_addresses"][0]["email_address"] for c in emulator.data.cc_v2_contacts.values() if c["status"] == "OPTOUT")
    assert expected
    assert sorted(r.record.data["email"] for r in output.records) == expected
    assert {r.record.data["list_id"] for r in output.records} == {"opted-out"}


def test_v2_errored_job_is_created_again(emulator: Emulator) -> None:
    emulator.faults.fail_next_jobs("cc_v2", 2)

    output = _read(_v2_only(emulator, list_ids=["2"]), V2)

    assert output.errors == []
    assert sorted(r.record.data["email"] for r in output.records) == _v2_emails(emulator, "2")
    assert len(emulator.requests.matching("/v2/activities/exportcontacts", "POST")) == 3


def test_v2_broken_csv_row_fails_loudly_naming_list_and_line(emulator: Emulator) -> None:
    emulator.faults.broken_csv_row("cc_v2", 3)

    output = _read(_v2_only(emulator, list_ids=["2"]), V2, expecting_exception=True)

    assert len(output.records) == 2
    message = output.errors[0].trace.error.message
    assert message.startswith(f"Stream {V2}: the export file ") and "row 3 (line " in message  # lines count embedded newlines
    assert message.endswith("Slice: {'list_id': '2'}.")
    assert "emu-v2-api-key" not in message
