"""Messages that say what to fix, through the console script: state files, config keys, time zones, start dates,
OAuth client credentials, export list ids."""

from pathlib import Path

import pytest

from airbyte_cdk.models import FailureType
from airbyte_cdk.test.entrypoint_wrapper import _run_command, discover, make_file

from emulator import Emulator
from source_contacts import SourceContacts
from tests.support.builders import emulator_v2_config, emulator_v3_config, run_read, stream_error
from tests.support.console import connection_status, error_traces, read_via_console, run_console

STATE_HELP = "Pass the `state` objects of the STATE messages a sync printed, as a JSON list, or no state to sync from start_date."


def test_a_state_file_that_is_not_json_ends_with_an_error_trace_not_a_traceback(emulator: Emulator, tmp_path: Path) -> None:
    result = read_via_console(emulator_v2_config(emulator), "cc_v2_lists", tmp_path, "incremental", state="{garbage")

    [error] = error_traces(result.stdout)
    assert error["failure_type"] == "config_error"
    assert error["message"].startswith(f"The state file {tmp_path / 'state.json'} is not a JSON list of Airbyte state messages (")
    assert error["message"].endswith(STATE_HELP)
    assert result.returncode == 1 and "Traceback" not in result.stderr and emulator.requests.snapshot() == []


def test_a_global_state_file_ends_with_an_error_trace_saying_what_to_pass(emulator: Emulator, tmp_path: Path) -> None:
    state = [{"type": "GLOBAL", "global": {"shared_state": {"x": 1}, "stream_states": []}}]

    result = read_via_console(emulator_v2_config(emulator), "cc_v2_lists", tmp_path, "incremental", state=state)

    [error] = error_traces(result.stdout)
    assert error["message"] == (
        f"The state file {tmp_path / 'state.json'} holds a GLOBAL state message; this connector reads and writes per-stream "
        f"(STREAM) states only. {STATE_HELP}"
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_a_cursor_in_the_state_that_is_not_a_date_names_the_stream_the_value_and_what_to_do(emulator: Emulator, tmp_path: Path) -> None:
    cursors = [{"partition": {"list_id": "1"}, "cursor": {"updated_at": "2024-02-01T00:00:00.000Z"}},
               {"partition": {"list_id": "2"}, "cursor": {"updated_at": "last tuesday"}}]
    state = [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "cc_v2_list_contacts"}, "stream_state": {"states": cursors}}}]

    result = read_via_console(emulator_v2_config(emulator), "cc_v2_list_contacts", tmp_path, "incremental", state=state)

    assert [e["message"] for e in error_traces(result.stdout)] == [
        "The state of stream cc_v2_list_contacts has updated_at 'last tuesday', which is not an RFC 3339 date-time "
        "(like 2024-01-01T00:00:00Z). Correct it in the state, or clear this stream's state so that it syncs from start_date again."
    ]
    assert result.returncode == 1 and emulator.requests.snapshot() == []


def test_discover_with_a_bad_time_zone_says_what_check_says(tmp_path: Path) -> None:
    config = {"cometly": {"api_key": "cometly-key-1", "timezone": "Mars/Olympus_Mons"}}

    check = _run_command(SourceContacts(config=config), ["check", "--config", make_file(tmp_path / "config.json", config)])
    catalog = discover(SourceContacts(config=config), config, expecting_exception=True)

    expected = "cometly.timezone 'Mars/Olympus_Mons' is not an IANA time zone; use your Cometly space's time zone, such as UTC or America/New_York."
    assert check.connection_status_messages[0].connectionStatus.message == expected
    assert [(e.trace.error.message, e.trace.error.failure_type) for e in catalog.errors] == [(expected, FailureType.config_error)]


@pytest.mark.parametrize(
    "config, message",
    [
        ({"cometly": {"api_key": "cometly-key-1", "window_days": 400}}, "Config key cometly.window_days: 400 is greater than the maximum of 365."),
        ({"constant_contact": {"credentials": {"auth_type": "access_token"}}}, "Config key constant_contact.credentials: 'access_token' is a required property."),
        ({"constant_contact": {"credentials": {"auth_type": "oauth2.0", "client_id": "client-id-1", "client_secret": ["secret-in-a-list"], "refresh_token": "refresh-1"}}},
         "Config key constant_contact.credentials.client_secret: the value is not of type 'string'."),
    ],
)
def test_a_config_that_breaks_the_spec_fails_check_naming_the_key_and_why(tmp_path: Path, config: dict, message: str) -> None:
    assert connection_status(run_console("check", config, tmp_path).stdout) == {"status": "FAILED", "message": message}


def test_discover_and_read_with_a_config_that_breaks_the_spec_name_the_key_too(tmp_path: Path) -> None:
    config = {"cometly": {"api_key": "cometly-key-1", "window_days": 0}}

    discovered = run_console("discover", config, tmp_path)
    read = read_via_console(config, "cometly_contacts", tmp_path)

    message = "Config key cometly.window_days: 0 is less than the minimum of 1."
    assert [e["message"] for e in error_traces(discovered.stdout) + error_traces(read.stdout)] == [message, message]


def test_check_says_a_start_date_in_the_future_is_in_the_future(emulator: Emulator, tmp_path: Path) -> None:
    config = {**emulator_v2_config(emulator), "start_date": "2999-01-01T00:00:00Z"}

    status = connection_status(run_console("check", config, tmp_path).stdout)

    assert status == {"status": "FAILED", "message": "start_date '2999-01-01T00:00:00Z' is in the future: nothing can have changed since then; set a past date-time."}
    assert emulator.requests.snapshot() == []


def test_a_wrong_client_secret_is_a_config_error_naming_client_id_and_client_secret(emulator: Emulator, tmp_path: Path) -> None:
    config = emulator_v3_config(emulator)
    config["constant_contact"]["credentials"]["client_secret"] = "not-the-secret"
    rejected = ("Constant Contact v3 rejected the application's credentials (invalid_client): check client_id and client_secret "
                "in constant_contact.credentials.")

    check = run_console("check", config, tmp_path)
    read = read_via_console(config, "cc_contact_lists", tmp_path)

    assert connection_status(check.stdout) == {"status": "FAILED", "message": f"Constant Contact v3: Stream cc_contact_lists is not available: {rejected}"}
    assert [(e["message"], e["failure_type"]) for e in error_traces(read.stdout)][0] == (rejected, "config_error")
    assert "not-the-secret" not in check.stdout + read.stdout + read.stderr


def test_check_names_export_list_ids_the_account_does_not_have(emulator: Emulator, tmp_path: Path) -> None:
    known = emulator.data.cc_v3_lists[0]["list_id"]
    config = emulator_v3_config(emulator, access_token=True, export_list_ids=[known, "no-such-list"])

    status = connection_status(run_console("check", config, tmp_path).stdout)

    assert status == {
        "status": "FAILED",
        "message": "Constant Contact v3: constant_contact.export_list_ids names lists this account does not have: no-such-list. "
                   "Remove them or correct them.",
    }


@pytest.mark.usefixtures("sleeps")
def test_an_export_of_an_unknown_list_logs_the_reason_constant_contact_gives(emulator: Emulator) -> None:
    config = emulator_v3_config(emulator, access_token=True, export_list_ids=["no-such-list"])

    output = run_read(config, "cc_contacts_export", expecting_exception=True)

    reasons = [m.log.message for m in output.logs if " reports: " in m.log.message]
    jobs = emulator.jobs.all("cc_v3")
    assert reasons == [f"Stream cc_contacts_export: the export job at {emulator.url}/v3/activities/{job.id} reports: List ids not found: no-such-list"
                       for job in jobs] and len(jobs) == 3
    assert stream_error(output, "cc_contacts_export").endswith("(status FAILED after 3 attempts). Other slices were read.")
