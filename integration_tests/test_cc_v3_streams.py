"""v3 against the emulator: OAuth refresh and rotation across syncs, exact records, incremental re-reads."""

import copy
from typing import List, Optional

from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput

from emulator import Emulator
from unit_tests.builders import control_configs, run_read


def _read(config: dict, stream: str, sync_mode: SyncMode = SyncMode.full_refresh, state: Optional[list] = None,
          expecting_exception: bool = False) -> EntrypointOutput:
    # The CDK writes refreshed tokens into the config it is given: keep the caller's copy intact.
    return run_read(copy.deepcopy(config), stream, sync_mode, state=state, expecting_exception=expecting_exception)


def _ids(output: EntrypointOutput, key: str) -> List[str]:
    return [r.record.data[key] for r in output.records]


def _v3_only(emu: Emulator) -> dict:
    config = emu.config()
    return {"start_date": config["start_date"], "constant_contact": config["constant_contact"]}


def test_lists_and_contacts_match_the_ground_truth(emulator: Emulator, capsys) -> None:
    config = _v3_only(emulator)

    lists = _read(config, "cc_contact_lists")
    # The refresh token rotated: the next sync starts from the persisted config.
    contacts = _read(control_configs(capsys.readouterr().out)[-1], "cc_contacts")

    assert sorted(_ids(lists, "list_id")) == sorted(lst["list_id"] for lst in emulator.data.cc_v3_lists)
    expected = sorted(c["contact_id"] for c in emulator.data.cc_v3_contacts)
    assert len(expected) > 1000  # more than two pages of 500
    assert sorted(_ids(contacts, "contact_id")) == expected
    first = next(r.record.data for r in contacts.records)
    assert set(first) >= {"contact_id", "email_address", "updated_at", "custom_fields", "list_memberships", "phone_numbers",
                          "street_addresses", "taggings", "notes"}
    assert len(emulator.requests.matching("/v3/contacts")) == -(-len(expected) // 500)


def test_a_token_expiring_mid_stream_is_refreshed_and_the_sync_completes(emulator: Emulator, capsys) -> None:
    config = _v3_only(emulator)
    original_access_valid = emulator.oauth.access_valid
    checks = {"count": 0}

    def expire_after_first_page(token: str) -> bool:
        checks["count"] += 1
        if checks["count"] == 2:  # the first page is served; the token dies before the second
            emulator.oauth.expire_access_tokens()
        return original_access_valid(token)

    emulator.oauth.access_valid = expire_after_first_page

    output = _read(config, "cc_contacts")

    assert sorted(_ids(output, "contact_id")) == sorted(c["contact_id"] for c in emulator.data.cc_v3_contacts)
    assert output.errors == []
    statuses = [r.status for r in emulator.requests.matching("/v3/contacts")]
    assert statuses.count(401) == 1
    assert len(emulator.requests.matching("/oauth2/default/v1/token")) == 2
    # Each refresh rotated the refresh token and saved it; the last one is the emulator's current one.
    persisted = control_configs(capsys.readouterr().out)
    assert len(persisted) == 2
    assert persisted[-1]["constant_contact"]["credentials"]["refresh_token"] == emulator.current_refresh_token


def test_the_second_sync_uses_the_rotated_config_and_the_old_refresh_token_fails(emulator: Emulator, capsys) -> None:
    first_config = _v3_only(emulator)

    first = _read(first_config, "cc_contact_lists")
    [rotated] = control_configs(capsys.readouterr().out)
    assert first.errors == [] and len(first.records) == len(emulator.data.cc_v3_lists)
    assert rotated["constant_contact"]["credentials"]["refresh_token"] != first_config["constant_contact"]["credentials"]["refresh_token"]

    # The next sync runs after the access token's hour: it must refresh with the rotated refresh token.
    emulator.oauth.expire_access_tokens()
    second_config = copy.deepcopy(rotated)
    second_config["constant_contact"]["credentials"]["token_expiry_date"] = "2020-01-01T00:00:00+00:00"
    second = _read(second_config, "cc_contacts")
    [rotated_again] = control_configs(capsys.readouterr().out)
    assert second.errors == [] and len(second.records) == len(emulator.data.cc_v3_contacts)
    assert rotated_again["constant_contact"]["credentials"]["refresh_token"] == emulator.current_refresh_token

    stale = _read(first_config, "cc_contact_lists", expecting_exception=True)

    assert stale.records == []
    assert {e.trace.error.failure_type for e in stale.errors} == {FailureType.config_error}
    assert "Re-authenticate" in stale.errors[0].trace.error.message
    assert control_configs(capsys.readouterr().out) == []


def test_access_token_mode_reads_with_the_given_token(emulator: Emulator) -> None:
    config = _v3_only(emulator)
    config["constant_contact"]["credentials"] = {"auth_type": "access_token", "access_token": emulator.issue_access_token()}

    output = _read(config, "cc_contact_lists")

    assert sorted(_ids(output, "list_id")) == sorted(lst["list_id"] for lst in emulator.data.cc_v3_lists)
    assert emulator.requests.matching("/oauth2/default/v1/token") == []


def test_incremental_contacts_second_read_returns_exactly_the_touched_and_the_boundary(emulator: Emulator) -> None:
    config = _v3_only(emulator)
    config["constant_contact"]["credentials"] = {"auth_type": "access_token", "access_token": emulator.issue_access_token()}
    first = _read(config, "cc_contacts", SyncMode.incremental)
    newest = max(c["updated_at"] for c in emulator.data.cc_v3_contacts)
    assert first.most_recent_state.stream_state.__dict__ == {"updated_at": newest}

    touched = [c["contact_id"] for c in emulator.data.cc_v3_contacts[10:13]]
    emulator.touch_v3_contacts(touched)
    boundary = [c["contact_id"] for c in emulator.data.cc_v3_contacts if c["updated_at"] == newest]
    second = _read(config, "cc_contacts", SyncMode.incremental, state=[first.state_messages[-1].state])

    # Records sharing the saved second are read again (inclusive cursor); nothing else is.
    assert sorted(_ids(second, "contact_id")) == sorted(set(touched) | set(boundary))
    assert second.most_recent_state.stream_state.__dict__ == {"updated_at": max(c["updated_at"] for c in emulator.data.cc_v3_contacts)}


def test_incremental_lists_second_read_returns_exactly_the_touched_and_the_boundary(emulator: Emulator) -> None:
    config = _v3_only(emulator)
    config["constant_contact"]["credentials"] = {"auth_type": "access_token", "access_token": emulator.issue_access_token()}
    first = _read(config, "cc_contact_lists", SyncMode.incremental)
    newest = max(lst["updated_at"] for lst in emulator.data.cc_v3_lists)
    assert first.most_recent_state.stream_state.__dict__ == {"updated_at": newest}

    touched = [lst["list_id"] for lst in emulator.data.cc_v3_lists[:2]]
    emulator.touch_v3_lists(touched)
    boundary = [lst["list_id"] for lst in emulator.data.cc_v3_lists if lst["updated_at"] == newest]
    second = _read(config, "cc_contact_lists", SyncMode.incremental, state=[first.state_messages[-1].state])

    assert sorted(_ids(second, "list_id")) == sorted(set(touched) | set(boundary))
