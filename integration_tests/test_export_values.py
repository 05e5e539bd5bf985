"""What the three exports land in a warehouse, against the emulator's ground truth: custom fields as Constant Contact
holds them, no "" where a cell was empty, date-times UTC ending in Z, dates YYYY-MM-DD, every field in the schema."""

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from emulator import Emulator
from tests.support.builders import emulator_cometly_config, emulator_v2_config, emulator_v3_config, run_read

SCHEMAS = Path(__file__).resolve().parent.parent / "source_contacts" / "schemas"
UTC_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def v3_records(emu: Emulator) -> Dict[str, dict]:
    output = run_read(emulator_v3_config(emu, access_token=True), "cc_contacts_export")
    assert output.errors == []
    return {r.record.data["email_address"]: r.record.data for r in output.records}


@pytest.fixture(scope="module")
def v2_records(emu: Emulator) -> List[dict]:
    output = run_read(emulator_v2_config(emu), "cc_v2_contacts_export")
    assert output.errors == []
    return [r.record.data for r in output.records]


@pytest.fixture(scope="module")
def cometly_records(emu: Emulator) -> List[dict]:
    output = run_read(emulator_cometly_config(emu, window_days=365), "cometly_contacts_export")
    assert output.errors == []
    return [r.record.data for r in output.records]


def _values(record: Any) -> Iterator[Any]:
    """Every value of a record, those inside objects and arrays too."""
    if isinstance(record, dict):
        for value in record.values():
            yield from _values(value)
    elif isinstance(record, list):
        for value in record:
            yield from _values(value)
    else:
        yield record


def test_v3_custom_fields_arrive_as_the_ground_truth_holds_them(emu: Emulator, v3_records: Dict[str, dict]) -> None:
    labels = {f["custom_field_id"]: f["label"] for f in emu.data.cc_v3_custom_fields}
    truth = {c["email_address"]["address"]: {labels[cf["custom_field_id"]]: cf["value"] for cf in c["custom_fields"]}
             for c in emu.data.cc_v3_contacts}
    assert {email: record.get("custom_fields", {}) for email, record in v3_records.items()} == truth
    assert any(len(values) == 3 for values in truth.values()) and any(not values for values in truth.values())
    # No custom column lands outside custom_fields.
    assert not {key for record in v3_records.values() for key in record} & {"favorite_color", "shoe_size", "referral_code"}


def test_no_csv_record_holds_an_empty_string_and_empty_cells_are_left_out(
    emu: Emulator, v3_records: Dict[str, dict], v2_records: List[dict]
) -> None:
    assert "" not in [value for record in [*v3_records.values(), *v2_records] for value in _values(record)]
    v3_truth = {c["email_address"]["address"]: c for c in emu.data.cc_v3_contacts}
    empty_company = [email for email, c in v3_truth.items() if not c["company_name"]]
    assert empty_company and all("company_name" not in v3_records[email] for email in empty_company)
    v2_truth = {c["email_addresses"][0]["email_address"]: c for c in emu.data.cc_v2_contacts.values()}
    no_middle = [r for r in v2_records if not v2_truth[r["email"]]["middle_name"]]
    assert no_middle and all("middle_name" not in r for r in no_middle)


def test_date_times_are_utc_ending_in_z_and_dates_are_yyyy_mm_dd(
    emu: Emulator, v3_records: Dict[str, dict], v2_records: List[dict], cometly_records: List[dict]
) -> None:
    stamps = [r[k] for r in v3_records.values() for k in ("created_at", "updated_at", "email_optin_date", "email_optout_date") if k in r]
    stamps += [r["date_added"] for r in v2_records] + [r[k] for r in cometly_records for k in ("created_at", "updated_at")]
    assert stamps and [s for s in stamps if not UTC_Z.fullmatch(s)] == []

    for contact in emu.data.cc_v3_contacts:
        record = v3_records[contact["email_address"]["address"]]
        assert record.get("anniversary") == contact.get("anniversary")
        # v3 keeps no birth year: the birthday is its month and day, and `birthday` (a date) is null.
        assert (record.get("birthday_month"), record.get("birthday_day"), record.get("birthday")) == (
            str(contact["birthday_month"]) if "birthday_month" in contact else None,
            str(contact["birthday_day"]) if "birthday_day" in contact else None,
            None,
        )
    anniversaries = [r["anniversary"] for r in v3_records.values() if "anniversary" in r]
    assert anniversaries and all(DATE.fullmatch(a) for a in anniversaries)


@pytest.mark.parametrize("stream", ["cc_contacts_export", "cc_v2_contacts_export", "cometly_contacts_export"])
def test_every_field_of_every_record_is_described_with_the_type_a_warehouse_needs(
    stream: str, v3_records: Dict[str, dict], v2_records: List[dict], cometly_records: List[dict]
) -> None:
    records = {"cc_contacts_export": list(v3_records.values()), "cc_v2_contacts_export": v2_records,
               "cometly_contacts_export": cometly_records}[stream]
    properties = json.loads((SCHEMAS / f"{stream}.json").read_text())["properties"]
    assert records and set().union(*records) <= set(properties)
    for name, described in properties.items():
        if described.get("format") == "date-time":
            assert described == {"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_with_timezone"}
        if name in ("anniversary", "birthday"):
            assert described["format"] == "date"


def test_the_cometly_export_reads_exactly_the_ground_truth(emu: Emulator, cometly_records: List[dict]) -> None:
    truth = emu.data.cometly_between(datetime(2024, 1, 1, tzinfo=timezone.utc), datetime.now(timezone.utc))
    assert sorted(r["id"] for r in cometly_records) == sorted(c["id"] for c in truth)
