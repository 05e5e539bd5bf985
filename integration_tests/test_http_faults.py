"""What the streams do when the HTTP layer misbehaves, against the emulator: pages that are not JSON, resets in the
middle of a page, hosts that cannot be reached, a long Retry-After, Constant Contact's 429s, and 404s."""

import pytest

from airbyte_cdk.models import FailureType, SyncMode

from emulator import Emulator
from tests.support.builders import (
    emitted_states,
    emulator_cometly_config,
    emulator_v2_config,
    emulator_v3_config,
    run_read,
    sorted_ids,
    stream_error,
)
from tests.support.fixtures import SleepRecorder

pytestmark = pytest.mark.usefixtures("sleeps")

NOT_JSON = ["html", "empty", "cut", "bad_utf8"]
ATTEMPTS = 9  # a request and its 8 retries


# cc_contacts reads 30-day windows from start_date; this one is the second.
# cc_contacts sends a window one second wider at its start.
SECOND_WINDOW = ("2024-01-30T23:59:59Z", "2024-03-01T00:00:00Z")


def not_json_failure(stream: str, url: str) -> str:
    """How the message of a stream that kept getting a page that is not JSON from `url` starts."""
    return (
        "Exhausted available request attempts. Please see logs for more details. "
        f"Exception: Stream {stream}: {url} answered HTTP 200 with a page that is not JSON ("
    )


@pytest.mark.parametrize("kind", NOT_JSON)
def test_a_contacts_page_that_is_not_json_is_retried_then_fails_the_stream_naming_its_url(emulator: Emulator, kind: str) -> None:
    emulator.faults.spoil_answers(f"updated_after={SECOND_WINDOW[0]}", times=ATTEMPTS, kind=kind)

    output = run_read(emulator_v3_config(emulator, access_token=True), "cc_contacts", SyncMode.incremental, expecting_exception=True)

    # The second window's page was tried 9 times and never read; the state never passed its start.
    lost = [r for r in emulator.requests if r.query.get("updated_after") == SECOND_WINDOW[0]]
    assert [(r.query["updated_before"], r.status) for r in lost] == [(SECOND_WINDOW[1], 200)] * ATTEMPTS
    # (A later window's opt-out query may bring a contact of this window; the others are only in the lost page.)
    only_in_lost_page = {c["contact_id"] for c in emulator.data.cc_v3_contacts
                         if SECOND_WINDOW[0] <= c["updated_at"] < SECOND_WINDOW[1] and (c["email_address"].get("opt_out_date") or "") < SECOND_WINDOW[1]}
    assert only_in_lost_page and not only_in_lost_page & set(sorted_ids(output, "contact_id"))
    assert emitted_states(output) and all(state["updated_at"] < SECOND_WINDOW[0] for state in emitted_states(output))
    assert stream_error(output, "cc_contacts").startswith(not_json_failure("cc_contacts", f"{emulator.url}/v3/contacts"))
    assert output.errors[0].trace.error.failure_type == FailureType.transient_error


def test_the_lists_page_that_is_not_json_fails_the_stream_instead_of_ending_it_empty(emulator: Emulator) -> None:
    emulator.faults.spoil_answers("/v3/contact_lists", times=ATTEMPTS, kind="html")

    output = run_read(emulator_v3_config(emulator, access_token=True), "cc_contact_lists", expecting_exception=True)

    assert output.records == []
    assert len(emulator.requests.matching("/v3/contact_lists")) == ATTEMPTS
    assert stream_error(output, "cc_contact_lists").startswith(not_json_failure("cc_contact_lists", f"{emulator.url}/v3/contact_lists"))


def test_a_membership_page_that_is_not_json_fails_naming_the_url_without_the_api_key(emulator: Emulator) -> None:
    emulator.faults.spoil_answers("/v2/lists/1/contacts?next=", times=ATTEMPTS, kind="bad_utf8")

    output = run_read(emulator_v2_config(emulator, list_ids=["1"]), "cc_v2_list_contacts", expecting_exception=True)

    assert sorted_ids(output) == sorted(c["id"] for c in emulator.data.v2_list_contacts("1")[:500])
    message = stream_error(output, "cc_v2_list_contacts")
    assert message.startswith(not_json_failure("cc_v2_list_contacts", f"{emulator.url}/v2/lists/1/contacts"))
    assert "emu-v2-api-key" not in message


def test_a_cometly_window_that_is_not_json_fails_the_stream_and_the_state_stays_before_it(emulator: Emulator) -> None:
    # The second of three one-year windows (the space is in New York: 19:00 there is midnight UTC); the third is not
    # read after it failed, since it would fail the same way.
    second_window = "start_date=2024-12-30 19:00:00"
    emulator.faults.spoil_answers(second_window, times=ATTEMPTS, kind="empty")

    output = run_read(emulator_cometly_config(emulator), "cometly_contacts", SyncMode.incremental, expecting_exception=True)

    windows = [(r.query["start_date"], r.query["end_date"]) for r in emulator.requests]
    assert len(windows) == 1 + ATTEMPTS and windows.count(("2024-12-30 19:00:00", "2025-12-30 18:59:59")) == ATTEMPTS
    read = [c for start, end in set(windows) if start != "2024-12-30 19:00:00" for c in emulator.data.cometly_local_window(start, end)]
    assert sorted_ids(output) == sorted(c["id"] for c in read)
    # The state reaches the newest contact of the first window and never passes the lost second one.
    newest_in_first = max(c["created_at"] for c in emulator.data.cometly_local_window("2023-12-31 19:00:00", "2024-12-30 18:59:59"))
    assert emitted_states(output)[-1] == {"created_at": newest_in_first[:19] + "Z"}
    assert stream_error(output, "cometly_contacts").startswith(not_json_failure("cometly_contacts", f"{emulator.url}/public-api/v1/contacts"))


def test_a_page_that_is_not_json_once_is_read_again_and_the_sync_completes(emulator: Emulator) -> None:
    emulator.faults.spoil_answers(f"updated_after={SECOND_WINDOW[0]}", times=1, kind="cut")

    output = run_read(emulator_v3_config(emulator, access_token=True), "cc_contacts")

    assert output.errors == []
    assert set(sorted_ids(output, "contact_id")) == {c["contact_id"] for c in emulator.data.cc_v3_contacts}
    assert [r.status for r in emulator.requests if r.query.get("updated_after") == SECOND_WINDOW[0]] == [200, 200]


def test_a_reset_in_the_middle_of_a_page_is_retried_and_the_sync_completes(emulator: Emulator) -> None:
    emulator.faults.spoil_answers("/v2/lists/1/contacts?next=", times=2, kind="reset")

    output = run_read(emulator_v2_config(emulator, list_ids=["1"]), "cc_v2_list_contacts")

    assert output.errors == []
    assert sorted_ids(output) == sorted(c["id"] for c in emulator.data.v2_list_contacts("1"))
    # Page 2 was cut twice, then served; page 3 followed.
    assert len(emulator.requests.matching("/v2/lists/1/contacts")) == 3 + 2


def test_a_host_that_refuses_connections_fails_the_stream_after_30_s_naming_it(sleeps: SleepRecorder, closed_port: int) -> None:
    port = closed_port
    config = {"start_date": "2024-01-01T00:00:00Z",
              "constant_contact_v2": {"api_key": "k-secret", "access_token": "t-secret", "api_url": f"http://127.0.0.1:{port}/v2"}}

    output = run_read(config, "cc_v2_lists", expecting_exception=True)

    # The CDK's waits (1, 2, 4, 8, 16 s): the sixth refusal comes 31 s after the first and ends the stream.
    assert sleeps.waits == [1, 2, 4, 8, 16]
    assert stream_error(output, "cc_v2_lists") == (
        f"Stream cc_v2_lists: could not reach 127.0.0.1:{port} (the connection failed: Connection refused) in 6 attempts "
        "over 31 s. Check the host in the config (api_url, token_url) and that this network can reach it."
    )
    assert output.errors[0].trace.error.failure_type == FailureType.transient_error
    assert [m.log.message for m in output.logs if "rate limit" in m.log.message.lower()] == []


def test_a_retry_after_over_10_minutes_fails_the_stream_at_once_saying_when_to_run_again(emulator: Emulator, sleeps: SleepRecorder) -> None:
    emulator.faults.rate_limit("/v2/lists", times=1, retry_after=86400)

    output = run_read(emulator_v2_config(emulator), "cc_v2_lists", expecting_exception=True)

    message = stream_error(output, "cc_v2_lists")
    assert message.startswith(
        f"Stream cc_v2_lists: {emulator.url}/v2/lists asked to wait 86400 s (Retry-After) before the next call, more than the "
        "10 minutes the connector waits. The sync stops here (the state it saved stands); run it again after "
    )
    assert message.endswith(" UTC.")
    assert output.errors[0].trace.error.failure_type == FailureType.transient_error
    assert len(emulator.requests) == 1 and sleeps.waits == []


def test_constant_contact_throttled_429s_are_backed_off_and_the_sync_completes(emulator: Emulator) -> None:
    emulator.faults.throttle_cc("cc_v3", times=2)

    output = run_read(emulator_v3_config(emulator, access_token=True), "cc_contact_lists")

    assert output.errors == []
    assert sorted_ids(output, "list_id") == sorted(lst["list_id"] for lst in emulator.data.cc_v3_lists)
    assert [r.status for r in emulator.requests] == [429, 429, 200]


def test_constant_contact_quota_exceeded_fails_at_once_saying_it_resets_at_midnight_utc(emulator: Emulator) -> None:
    emulator.faults.cc_daily_quota("cc_v3", calls_left=0)

    output = run_read(emulator_v3_config(emulator, access_token=True), "cc_contact_lists", expecting_exception=True)

    assert output.records == [] and [r.status for r in emulator.requests] == [429]  # not asked again
    assert stream_error(output, "cc_contact_lists") == (
        "Stream cc_contact_lists: Constant Contact answered 429 quota_exceeded: the application's daily quota of 10,000 calls "
        "is spent. It resets at 00:00 UTC; the sync stops here (the state it saved stands) and the next sync after the "
        "reset goes on from there."
    )
    assert output.errors[0].trace.error.failure_type == FailureType.transient_error


def test_v2_quota_exceeded_in_its_list_of_errors_fails_at_once_and_the_pages_read_stand(emulator: Emulator) -> None:
    emulator.faults.cc_daily_quota("cc_v2", calls_left=1)

    output = run_read(emulator_v2_config(emulator, list_ids=["1"]), "cc_v2_list_contacts", expecting_exception=True)

    # The first page was read; the second drew quota_exceeded and was not asked again.
    assert sorted_ids(output) == sorted(c["id"] for c in emulator.data.v2_list_contacts("1")[:500])
    assert [r.status for r in emulator.requests] == [200, 429]
    assert "Constant Contact answered 429 quota_exceeded" in stream_error(output, "cc_v2_list_contacts")


@pytest.mark.parametrize(
    "stream, config_for, key",
    [
        ("cc_contact_lists", lambda emu: emulator_v3_config(emu, access_token=True, api_url=f"{emu.url}/api/v3"), "constant_contact.api_url"),
        ("cc_v2_lists", lambda emu: emulator_v2_config(emu, api_url=f"{emu.url}/api/v2"), "constant_contact_v2.api_url"),
        ("cometly_contacts", lambda emu: emulator_cometly_config(emu, api_url=f"{emu.url}/api/v1"), "cometly.api_url"),
    ],
)
def test_a_404_from_a_wrong_api_url_names_the_url_and_the_setting(emulator: Emulator, stream: str, config_for, key: str) -> None:
    output = run_read(config_for(emulator), stream, expecting_exception=True)

    message = stream_error(output, stream)
    assert f" answered 404 Not Found for {emulator.url}/api/" in message and f": check {key} (the default is https://" in message
    assert output.errors[0].trace.error.failure_type == FailureType.config_error


def test_a_404_on_a_v2_export_file_says_the_file_is_gone_not_to_remove_the_list(emulator: Emulator) -> None:
    emulator.faults.server_error("/v2/exports/", times=1, status=404)

    output = run_read(emulator_v2_config(emulator, list_ids=["4"]), "cc_v2_contacts_export", expecting_exception=True)

    [file_request] = emulator.requests.matching("/v2/exports/")
    assert stream_error(output, "cc_v2_contacts_export") == (
        f"Constant Contact v2 answered 404 Not Found for the export file {emulator.url}{file_request.path} of a finished "
        "export job: the file is gone; run the sync again to export the list anew. Slice: {'list_id': '4'}."
    )
    assert output.errors[0].trace.error.failure_type == FailureType.transient_error


def test_a_5xx_storm_is_retried_8_times_with_doubling_waits_then_fails_and_is_never_called_a_rate_limit(emulator: Emulator, sleeps: SleepRecorder) -> None:
    emulator.faults.server_error("/v2/lists", times=100, status=503)

    output = run_read(emulator_v2_config(emulator), "cc_v2_lists", expecting_exception=True)

    assert [r.status for r in emulator.requests] == [503] * ATTEMPTS
    assert sleeps.waits == [1, 2, 4, 8, 16, 32, 64, 128]
    assert stream_error(output, "cc_v2_lists") == (
        "Exhausted available request attempts. Please see logs for more details. Exception: HTTP Status Code: 503. Error: Service unavailable."
    )
    assert [m.log.message for m in output.logs if "rate limit" in m.log.message.lower()] == []
