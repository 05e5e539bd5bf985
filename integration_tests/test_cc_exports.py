"""The Constant Contact CSV exports (v3 cc_contacts_export, v2 cc_v2_contacts_export) against the emulator."""

from datetime import datetime, timezone
from typing import Dict, List

from airbyte_cdk.models import SyncMode

from emulator import Emulator
from tests.support.builders import emulator_v2_config, emulator_v3_config, final_state, run_read, state_for_next_read

V3 = "cc_contacts_export"
V2 = "cc_v2_contacts_export"
V2_FIELDS = [
    "email", "first_name", "middle_name", "last_name", "job_title", "company_name", "work_phone", "home_phone", "address_line_1",
    "address_line_2", "address_line_3", "city", "state", "state_province_intl", "country", "postal_code", "sub_postal_code",
    *[f"custom_field_{n}" for n in range(1, 16)], "date_added", "added_by", "list_id",
]


def _utc(stamp: str) -> str:
    """The ground truth's RFC 3339 stamp in the connector's fixed-width UTC form."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _v3_truth(emu: Emulator) -> Dict[str, dict]:
    return {c["email_address"]["address"]: c for c in emu.data.cc_v3_contacts}


def test_v3_export_is_every_contact_with_fields_and_dates_as_in_the_ground_truth(emulator: Emulator) -> None:
    output = run_read(emulator_v3_config(emulator, access_token=True), V3)

    truth = _v3_truth(emulator)
    records = {r.record.data["email_address"]: r.record.data for r in output.records}
    assert output.errors == []
    assert len(output.records) == len(truth) == len(records)
    assert set(records) == set(truth)
    for email, record in records.items():
        contact = truth[email]
        # An empty cell is null: left out of the record.
        assert [record.get(name) for name in ("first_name", "last_name", "company_name", "job_title")] == [
            contact[name] or None for name in ("first_name", "last_name", "company_name", "job_title")]
        assert record["updated_at"] == _utc(contact["updated_at"])
        assert record["created_at"] == _utc(contact["created_at"])
    # The CSV hazards the dataset plants came through intact.
    assert any("," in r.get("company_name", "") and '"' in r.get("company_name", "") for r in records.values())
    assert any("\n" in r.get("job_title", "") for r in records.values())
    assert any(not r["last_name"].isascii() for r in records.values())


def test_v3_export_of_lists_and_status_sends_them_and_reads_exactly_those_contacts(emulator: Emulator) -> None:
    list_ids = [lst["list_id"] for lst in emulator.data.cc_v3_lists[:3]]
    output = run_read(emulator_v3_config(emulator, access_token=True, export_list_ids=list_ids, export_status="active"), V3)

    expected = sorted(
        c["email_address"]["address"] for c in emulator.data.cc_v3_contacts
        if set(list_ids) & set(c["list_memberships"]) and emulator.data.v3_status(c) == "active"
    )
    assert 0 < len(expected) < len(emulator.data.cc_v3_contacts)
    assert sorted(r.record.data["email_address"] for r in output.records) == expected
    body = emulator.requests.matching("/v3/activities/contact_exports", "POST")[0].body
    assert b'"list_ids": ["' + list_ids[0].encode() in body and b'"status": "active"' in body


def test_v3_incremental_second_read_returns_the_changed_and_the_boundary_second(emulator: Emulator) -> None:
    config = emulator_v3_config(emulator, access_token=True)
    first = run_read(config, V3, SyncMode.incremental)
    state = final_state(first)["updated_at"]
    assert state == max(_utc(c["updated_at"]) for c in emulator.data.cc_v3_contacts)

    # Compared at one-second granularity: the contacts stamped in the state's second come back too.
    boundary = {e for e, c in _v3_truth(emulator).items() if _utc(c["updated_at"])[:19] == state[:19]}
    touched = emulator.touch_v3_contacts([c["contact_id"] for c in emulator.data.cc_v3_contacts[:5]])
    second = run_read(config, V3, SyncMode.incremental, state=state_for_next_read(first))

    expected = sorted({c["email_address"]["address"] for c in touched} | boundary)
    assert sorted(r.record.data["email_address"] for r in second.records) == expected
    assert final_state(second)["updated_at"] == max(_utc(c["updated_at"]) for c in touched)


def _v2_emails(emu: Emulator, list_id: str) -> List[str]:
    contacts = emu.data.cc_v2_contacts
    return sorted(contacts[cid]["email_addresses"][0]["email_address"] for cid in emu.data.cc_v2_members[list_id])


def test_v2_export_is_one_job_per_list_with_every_member(emulator: Emulator) -> None:
    output = run_read(emulator_v2_config(emulator), V2)

    assert output.errors == []
    got = sorted((r.record.data["list_id"], r.record.data["email"]) for r in output.records)
    expected = sorted((lst["id"], email) for lst in emulator.data.cc_v2_lists for email in _v2_emails(emulator, lst["id"]))
    assert got == expected
    assert not [email for list_id, email in got if list_id == "3"]  # the empty list: 0 records, no error
    posts = emulator.requests.matching("/v2/activities/exportcontacts", "POST")
    assert len(posts) == len(emulator.data.cc_v2_lists)
    downloads = emulator.requests.matching("/v2/exports/")
    assert downloads and all(r.query.get("api_key") == "emu-v2-api-key" for r in downloads)
    # Every column asked for comes back under its snake_case label, plus the list id; empty cells are left out.
    assert set().union(*(r.record.data for r in output.records)) == set(V2_FIELDS) - {"address_line_3"}  # never filled
    assert all(r.record.data["date_added"].endswith("Z") for r in output.records)


def test_v2_system_list_export(emulator: Emulator) -> None:
    output = run_read(emulator_v2_config(emulator, list_ids=["opted-out"]), V2)

    expected = sorted(c["email_addresses"][0]["email_address"] for c in emulator.data.cc_v2_contacts.values() if c["status"] == "OPTOUT")
    assert expected
    assert sorted(r.record.data["email"] for r in output.records) == expected
    assert {r.record.data["list_id"] for r in output.records} == {"opted-out"}

