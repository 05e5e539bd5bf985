"""The emulator's least forgiving readings of the docs (offsets, exclusive bounds, a spent quota, future stamps, broken
files and columns, links that repeat or lead elsewhere, odd secrets, a misbehaving token endpoint): nothing is lost,
nothing hangs, nothing leaks."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from emulator import Emulator
from emulator.common import http_date
from emulator.faults import FOREVER
from source_contacts import SourceContacts
from tests.support.builders import (
    emulator_cometly_config,
    emulator_v2_config,
    emulator_v3_config,
    final_state,
    run_read,
    sorted_ids,
    state_for_next_read,
    stream_error,
    stream_state,
)
from tests.support.console import connection_status, read_via_console, run_console

V3 = lambda emu: emulator_v3_config(emu, access_token=True)  # noqa: E731
WORKERS = 2  # the CDK's concurrency level: partitions read at once
# stream: (config, primary key, mutation of a few records between two syncs)
INCREMENTAL = {
    "cc_contacts": (V3, "contact_id", lambda emu: emu.touch_v3_contacts([c["contact_id"] for c in emu.data.cc_v3_contacts[:3]])),
    "cc_contact_lists": (V3, "list_id", lambda emu: emu.touch_v3_lists([emu.data.cc_v3_lists[0]["list_id"]])),
    "cc_contact_custom_fields": (V3, "custom_field_id", lambda emu: emu.touch_v3_custom_fields([emu.data.cc_v3_custom_fields[0]["custom_field_id"]])),
    "cc_segments": (V3, "segment_id", lambda emu: emu.touch_v3_segments([emu.data.cc_v3_segments[0]["segment_id"]])),
    "cc_email_campaigns": (V3, "campaign_id", lambda emu: emu.touch_v3_campaigns([emu.data.cc_v3_campaigns[0]["campaign_id"]])),
    "cc_v2_lists": (emulator_v2_config, "id", lambda emu: emu.touch_v2_lists([emu.data.cc_v2_lists[0]["id"]])),
    "cometly_contacts": (emulator_cometly_config, "id", lambda emu: emu.add_cometly_contacts(2)),
}


def _sync_twice(emu: Emulator, stream: str) -> tuple:
    config_for, key, mutate = INCREMENTAL[stream]
    config = config_for(emu)
    first = run_read(config, stream, SyncMode.incremental)
    mutate(emu)
    second = run_read(config, stream, SyncMode.incremental, state=state_for_next_read(first))
    records = [sorted(json.dumps(m.record.data, sort_keys=True) for m in output.records) for output in (first, second)]
    # Final states: the order windows close in (and so the states between) depends on the threads.
    return records, [final_state(first), final_state(second)], [sorted_ids(o, key) for o in (first, second)]


@pytest.mark.parametrize("stream", list(INCREMENTAL))
def test_stamps_with_an_offset_give_the_same_records_and_state_instants_as_utc_ones(stream: str, sync_started_at: datetime) -> None:
    with Emulator() as utc, Emulator() as offset:
        offset.faults.stamp_offset("+05:30")
        expected_records, expected_states, _ = _sync_twice(utc, stream)
        records, states, _ = _sync_twice(offset, stream)

    assert records == expected_records
    assert states == expected_states
    assert all("+05:30" not in record for sync in records for record in sync)


def test_contacts_on_window_edges_are_read_under_exclusive_bounds_full_and_incremental(emulator: Emulator, sync_started_at: datetime) -> None:
    emulator.faults.strictest_bounds()
    edges = [datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(days=30 * n) for n in range(3)]
    stamped = {edge: {c["contact_id"] for c in contacts} for edge, contacts in emulator.stamp_v3_contacts_at(edges, count_each=5).items()}
    config = emulator_v3_config(emulator, access_token=True)

    full = run_read(config, "cc_contacts")
    incremental = run_read(config, "cc_contacts", SyncMode.incremental, state=stream_state("cc_contacts", {"updated_at": "2024-01-31T00:00:00Z"}))

    assert set().union(*stamped.values()) <= set(sorted_ids(full, "contact_id"))
    assert stamped[edges[1]] | stamped[edges[2]] <= set(sorted_ids(incremental, "contact_id"))


def test_after_quota_exceeded_no_further_call_is_made_to_that_api_by_any_stream(emulator: Emulator) -> None:
    emulator.faults.cc_daily_quota("cc_v3", calls_left=3)
    config = emulator_v3_config(emulator, access_token=True)
    catalog = CatalogBuilder().with_stream("cc_contacts", SyncMode.full_refresh).with_stream("cc_email_campaigns", SyncMode.full_refresh).build()

    output = read(SourceContacts(catalog=catalog, config=config), config, catalog, expecting_exception=True)

    # Only the calls already in flight when the first quota_exceeded came back (one per worker thread) are refused.
    refused = emulator.faults.cc_quota_refusals("cc_v3")
    assert 1 <= refused <= WORKERS
    assert emulator.faults.cc_calls("cc_v3") == 3 + refused
    assert "the application's daily quota of 10,000 calls is spent" in stream_error(output, "cc_contacts") + stream_error(output, "cc_email_campaigns")


@pytest.mark.parametrize("stream, mutate", [
    ("cc_email_campaigns", lambda emu, at: emu.touch_v3_campaigns([emu.data.cc_v3_campaigns[0]["campaign_id"]], at=at)),
    ("cc_v2_lists", lambda emu, at: emu.touch_v2_lists([emu.data.cc_v2_lists[0]["id"]], at=at)),
    ("cc_contact_lists", lambda emu, at: emu.touch_v3_lists([emu.data.cc_v3_lists[0]["list_id"]], at=at)),
])
def test_a_record_stamped_in_2099_is_emitted_with_a_warning_and_the_state_stays_at_the_sync_start(
    emulator: Emulator, sync_started_at: datetime, stream: str, mutate
) -> None:
    mutate(emulator, datetime(2099, 1, 1, tzinfo=timezone.utc))
    config = (emulator_v2_config if stream.startswith("cc_v2") else V3)(emulator)

    output = run_read(config, stream, SyncMode.incremental)

    cursor = "modified_date" if stream == "cc_v2_lists" else "updated_at"
    assert any(r.record.data[cursor].startswith("2099-01-01") for r in output.records)
    assert max(final_state(output)[cursor][:19] for _ in [0]) == "2024-03-20T12:00:00"
    assert any(f"Stream {stream}: a record has {cursor} 2099-01-01" in m.log.message for m in output.logs)


def test_a_state_later_than_now_fails_naming_the_stream_and_the_value(emulator: Emulator) -> None:
    state = stream_state("cc_email_campaigns", {"updated_at": "2099-01-01T00:00:00Z"})
    output = run_read(V3(emulator), "cc_email_campaigns", SyncMode.incremental, state=state, expecting_exception=True)
    assert "The state of stream cc_email_campaigns has updated_at '2099-01-01T00:00:00Z', which is later than now" in output.errors[0].trace.error.message
    assert emulator.requests.matching("/v3/emails") == []


def test_an_empty_file_where_a_gzip_is_due_is_downloaded_again(emulator: Emulator) -> None:
    emulator.faults.empty_next_files(1)
    output = run_read(emulator_cometly_config(emulator), "cometly_contacts_export")
    assert output.errors == []
    assert len(emulator.file_requests) == len(emulator.requests.matching("/contacts/exports", method="POST")) + 1  # once again
    assert sorted_ids(output) == sorted(c["id"] for c in emulator.data.cometly_between(datetime(2024, 1, 1, tzinfo=timezone.utc), datetime.now(timezone.utc)))


def test_an_uncompressed_ndjson_file_is_read(emulator: Emulator) -> None:
    emulator.faults.uncompressed_next_files(1)
    output = run_read(emulator_cometly_config(emulator), "cometly_contacts_export")
    assert output.errors == []
    assert sorted_ids(output) == sorted(c["id"] for c in emulator.data.cometly_between(datetime(2024, 1, 1, tzinfo=timezone.utc), datetime.now(timezone.utc)))


def test_a_renamed_email_column_fails_naming_the_column_instead_of_stripping_the_key(emulator: Emulator) -> None:
    emulator.faults.rename_csv_column("cc_v3", "Email address - other", "Adresse e-mail - other")
    output = run_read(V3(emulator), "cc_contacts_export", expecting_exception=True)
    assert output.records == []
    assert "it has no column for email_address, the records' primary key" in stream_error(output, "cc_contacts_export")


def test_two_custom_columns_of_one_label_fail_naming_it(emulator: Emulator) -> None:
    label = emulator.data.cc_v3_custom_fields[0]["label"]
    emulator.faults.duplicate_csv_label("cc_v3", label)
    output = run_read(V3(emulator), "cc_contacts_export", expecting_exception=True)
    assert f"both hold the custom field '{label}'" in stream_error(output, "cc_contacts_export")


@pytest.mark.parametrize("status", ["cancelled", "expired", "timed_out"])
def test_an_export_status_the_docs_do_not_list_ends_the_job_as_failed(emulator: Emulator, status: str) -> None:
    emulator.faults.fail_next_jobs("cometly", n=2, state=status)
    output = run_read(emulator_cometly_config(emulator, export_window_days=3650), "cometly_contacts_export")
    assert output.errors == []
    # Failed twice, the window is exported as two halves.
    assert len(emulator.requests.matching("/contacts/exports", method="POST")) == 4


@pytest.mark.parametrize("config_for, stream, path", [
    (V3, "cc_contact_lists", "/v3/contact_lists"),
    (emulator_v2_config, "cc_v2_list_contacts", "/v2/lists/1/contacts"),
    (emulator_cometly_config, "cometly_contacts", "/public-api/v1/contacts"),
])
def test_a_next_page_that_repeats_one_already_read_fails_the_stream(emulator: Emulator, config_for, stream: str, path: str) -> None:
    emulator.faults.repeat_next_link(path, times=FOREVER)
    output = run_read(config_for(emulator), stream, expecting_exception=True)
    assert "answered with a next page that this read has already been given" in stream_error(output, stream)
    assert len(emulator.requests.matching(path)) < 10  # not for ever


def test_a_persistent_400_fails_cc_contacts_after_its_first_window(emulator: Emulator) -> None:
    emulator.faults.server_error("/v3/contacts", times=FOREVER, status=400)
    config = {**V3(emulator), "start_date": "2020-01-01T00:00:00Z"}
    output = run_read(config, "cc_contacts", expecting_exception=True)
    # One failed window (and the one other worker thread's, already in flight), not one for each of the 52 windows.
    assert 1 <= len([e for e in output.errors if e.trace.error.stream_descriptor]) <= WORKERS
    assert len(emulator.requests.matching("/v3/contacts")) <= WORKERS


@pytest.mark.parametrize("config_for, stream, path", [
    (V3, "cc_contacts", "/v3/contacts"),
    (emulator_v2_config, "cc_v2_list_contacts", "/v2/lists"),
])
def test_a_link_to_another_host_gets_no_credentials_and_fails_the_stream(emulator: Emulator, config_for, stream: str, path: str) -> None:
    # Two pages of contacts in one window, so that the first page has a next link.
    emulator.touch_v3_contacts([c["contact_id"] for c in emulator.data.cc_v3_contacts[:600]], at=datetime(2024, 1, 2, tzinfo=timezone.utc))
    emulator.faults.foreign_links(emulator.files_url, times=FOREVER, path_contains=path)
    output = run_read(config_for(emulator), stream, expecting_exception=True)
    assert "on another host than the configured one" in stream_error(output, stream)
    assert emulator.file_requests.snapshot() == []


def test_a_v2_export_file_on_another_host_gets_no_api_key(emulator: Emulator) -> None:
    emulator.faults.foreign_links(emulator.files_url, times=FOREVER, path_contains="/v2/activities")
    output = run_read(emulator_v2_config(emulator, list_ids=["1"]), "cc_v2_contacts_export", expecting_exception=True)
    assert "on another host than the configured one" in stream_error(output, "cc_v2_contacts_export")
    assert emulator.file_requests.snapshot() == []


def test_a_retry_after_given_as_an_http_date_is_waited(emulator: Emulator, sleeps) -> None:
    emulator.faults.rate_limit("/public-api/v1/contacts", times=1, retry_after=http_date(30))
    output = run_read(emulator_cometly_config(emulator), "cometly_contacts")
    assert output.errors == []
    assert any(25 <= wait <= 31 for wait in sleeps.waits)


@pytest.mark.parametrize("kind, setting", [("html", "not JSON"), ("server_error", "no usable answer")])
def test_a_token_endpoint_that_misbehaves_fails_naming_token_url(emulator: Emulator, kind: str, setting: str) -> None:
    emulator.faults.token_fault(kind, times=FOREVER)
    output = run_read(emulator_v3_config(emulator), "cc_contact_lists", expecting_exception=True)
    message = output.errors[0].trace.error.message
    assert setting in message and "constant_contact.token_url" in message


@pytest.mark.timeout(200)
def test_a_token_endpoint_that_never_answers_fails_within_the_deadline(emulator: Emulator) -> None:
    emulator.faults.token_fault("hang", times=FOREVER)
    started = datetime.now(timezone.utc)
    output = run_read(emulator_v3_config(emulator), "cc_contact_lists", expecting_exception=True)
    assert "gave no usable answer in 70 s; check constant_contact.token_url" in output.errors[0].trace.error.message
    assert datetime.now(timezone.utc) - started < timedelta(seconds=150)


SECRET_KEY = "a+b/c=d&e%f"


def test_a_secret_with_whitespace_around_it_fails_check_naming_the_key(tmp_path: Path) -> None:
    with Emulator() as emu:
        config = emulator_v2_config(emu, api_key=emu.v2_api_key + "\n")
        checked = run_console("check", config, tmp_path)
    status = connection_status(checked.stdout)
    assert status == {"status": "FAILED", "message": "Config key constant_contact_v2.api_key has whitespace (a space or a line break) around its value: remove it."}


def test_every_form_of_an_api_key_that_needs_url_encoding_is_masked_in_a_debug_read(tmp_path: Path) -> None:
    from urllib.parse import quote, quote_plus

    with Emulator(v2_api_key=SECRET_KEY) as emu:
        config = emulator_v2_config(emu, list_ids=["1", "999"])
        result = read_via_console(config, "cc_v2_list_contacts", tmp_path, "full_refresh", None, "--debug")
    printed = result.stdout + result.stderr
    assert "999" in printed  # the missing list is named
    for form in (SECRET_KEY, quote(SECRET_KEY, safe=""), quote_plus(SECRET_KEY), json.dumps(SECRET_KEY)[1:-1]):
        assert form not in printed
