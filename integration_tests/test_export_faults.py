"""The exports against the emulator's file faults: a CSV short of the count Constant Contact reports, a download reset
half way (v3, v2 and the Cometly file host), a field over 128 KB, a byte that is not UTF-8."""

from collections import Counter
from datetime import datetime, timezone

import requests

from airbyte_cdk.models import SyncMode

from emulator.common import long_field_value
from tests.support.builders import (
    emitted_states,
    emulator_cometly_config,
    emulator_v2_config,
    emulator_v3_config,
    run_read,
    stream_error,
    stream_state,
)

V3 = "cc_contacts_export"
V2 = "cc_v2_contacts_export"
COMETLY = "cometly_contacts_export"
V3_STATE = {"updated_at": "2024-01-01T00:00:00.000Z"}


def _once(output, *keys: str) -> list:
    """The `keys` of every record, sorted, after checking that no record came twice."""
    values = [tuple(r.record.data[key] for key in keys) for r in output.records]
    assert [value for value, n in Counter(values).items() if n > 1] == []
    return sorted(values)


def _v3_truth(emu) -> list:
    return sorted((c["email_address"]["address"],) for c in emu.data.cc_v3_contacts)


def _v2_truth(emu, list_ids) -> list:
    contacts = emu.data.cc_v2_contacts
    return sorted((lid, contacts[cid]["email_addresses"][0]["email_address"]) for lid in list_ids for cid in emu.data.cc_v2_members[lid])


def _v3_file(emu) -> str:
    [path] = {r.path for r in emu.requests.matching("/v3/contact_exports/")}
    return emu.url + path


# ---------------------------------------------------------------- row counts


def test_v3_a_file_one_row_short_of_the_activity_count_fails_naming_both_counts_and_keeps_the_state(emulator):
    emulator.faults.short_csv_files("cc_v3", times=1)
    state = stream_state(V3, V3_STATE)
    output = run_read(emulator_v3_config(emulator, access_token=True), V3, SyncMode.incremental, state=state, expecting_exception=True)

    total = len(emulator.data.cc_v3_contacts)
    message = stream_error(output, V3)
    assert message.startswith(
        f"Stream {V3}: the export file {_v3_file(emulator)} is broken: it has {total - 1} rows where Constant Contact "
        f"reported {total}. Slice: {{'start_time': '2024-01-01T00:00:00.000Z', 'end_time': '"
    )
    assert emitted_states(output) == [V3_STATE]


def test_v2_a_file_one_row_short_fails_naming_the_list_after_the_other_lists_are_read(emulator):
    emulator.faults.short_csv_files("cc_v2", times=1)
    output = run_read(emulator_v2_config(emulator, list_ids=["2", "4"]), V2, expecting_exception=True)

    [short] = [r for r in emulator.requests.matching("/v2/exports/")][:1]
    short_list = next(job.params["list"] for job in emulator.jobs.all("cc_v2") if short.path.endswith(f"/{job.id}.csv"))
    other = "4" if short_list == "2" else "2"
    members = len(emulator.data.cc_v2_members[short_list])
    assert stream_error(output, V2) == (
        f"Stream {V2}: the export file {emulator.url}{short.path} is broken: it has {members - 1} rows where Constant "
        f"Contact reported {members}. Slice: {{'list_id': '{short_list}'}}."
    )
    assert set(_v2_truth(emulator, [other])) <= set(_once(output, "list_id", "email"))


# ---------------------------------------------------------------- downloads reset half way


def test_v3_a_download_reset_half_way_is_downloaded_again_and_each_contact_read_once(emulator):
    emulator.faults.spoil_answers("/v3/contact_exports/", times=1, kind="reset")
    output = run_read(emulator_v3_config(emulator, access_token=True), V3)

    assert output.errors == []
    assert _once(output, "email_address") == _v3_truth(emulator)
    assert len(emulator.requests.matching("/v3/contact_exports/")) == 2


def test_v3_a_download_reset_every_time_fails_after_three_naming_the_file(emulator):
    emulator.faults.spoil_answers("/v3/contact_exports/", times=3, kind="reset")
    output = run_read(emulator_v3_config(emulator, access_token=True), V3, expecting_exception=True)

    assert output.records == []  # nothing is read from a file that never arrived whole
    assert stream_error(output, V3).startswith(
        f"Stream {V3}: the export file {_v3_file(emulator)} arrived incomplete 3 times; the last time: ProtocolError: "
    )
    assert len(emulator.requests.matching("/v3/contact_exports/")) == 3


def test_v2_a_download_reset_half_way_is_downloaded_again_with_the_api_key_and_read_once(emulator):
    emulator.faults.spoil_answers("/v2/exports/", times=1, kind="reset")
    output = run_read(emulator_v2_config(emulator, list_ids=["1", "2"]), V2)

    assert output.errors == []
    assert _once(output, "list_id", "email") == _v2_truth(emulator, ["1", "2"])
    downloads = emulator.requests.matching("/v2/exports/")
    assert len(downloads) == 3 and all(r.query.get("api_key") == "emu-v2-api-key" for r in downloads)


def test_cometly_a_download_reset_half_way_is_downloaded_again_without_credentials_and_read_once(emulator):
    emulator.faults.spoil_answers(".ndjson.gz", times=1, kind="reset")
    output = run_read(emulator_cometly_config(emulator, window_days=365), COMETLY)

    assert output.errors == []
    truth = emulator.data.cometly_between(datetime(2024, 1, 1, tzinfo=timezone.utc), datetime.now(timezone.utc))
    assert _once(output, "id") == sorted((c["id"],) for c in truth)
    windows = len(emulator.requests.matching("/contacts/exports", method="POST"))
    assert len(emulator.file_requests) == windows + 1
    assert all("Authorization" not in r.headers for r in emulator.file_requests)


# ---------------------------------------------------------------- field size and bytes


def test_v3_a_field_over_128_kb_is_read_whole(emulator):
    emulator.faults.long_csv_field("cc_v3", row_no=7, size=300_000)
    output = run_read(emulator_v3_config(emulator, access_token=True), V3)

    assert output.errors == []
    assert _once(output, "email_address") == _v3_truth(emulator)
    [long_notes] = [r.record.data for r in output.records if len(r.record.data.get("notes", "")) > 1000]
    assert long_notes["notes"] == long_field_value(300_000)
    seventh = sorted(emulator.data.cc_v3_contacts, key=lambda c: (c["email_address"]["address"].lower(), c["contact_id"]))[6]
    assert long_notes["email_address"] == seventh["email_address"]["address"]


def test_v2_a_field_over_128_kb_is_read_whole(emulator):
    emulator.faults.long_csv_field("cc_v2", row_no=1, size=200_000)
    output = run_read(emulator_v2_config(emulator, list_ids=["4"]), V2)

    assert output.errors == []
    assert [r.record.data.get("custom_field_15") for r in output.records][0] == long_field_value(200_000)


def test_v3_a_byte_that_is_not_utf8_fails_naming_file_and_line_and_keeps_the_state(emulator):
    emulator.faults.non_utf8_csv_byte("cc_v3", row_no=3)
    state = stream_state(V3, V3_STATE)
    output = run_read(emulator_v3_config(emulator, access_token=True), V3, SyncMode.incremental, state=state, expecting_exception=True)

    # The same file with the same fault, fetched by hand: where its 0xFF is.
    emulator.faults.non_utf8_csv_byte("cc_v3", row_no=3)
    body = requests.get(_v3_file(emulator), headers={"Authorization": f"Bearer {emulator.issue_access_token()}"}).content
    at = body.index(b"\xff")
    line = body[:at].count(b"\n") + 1
    assert stream_error(output, V3).startswith(
        f"Stream {V3}: the export file {_v3_file(emulator)} is broken: line {line} (byte {at}) has bytes "
        "that are not UTF-8 (ff). Slice: {'start_time': '2024-01-01T00:00:00.000Z', 'end_time': '"
    )
    assert emitted_states(output) == [V3_STATE]
