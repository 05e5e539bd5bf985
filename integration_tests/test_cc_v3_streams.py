"""v3 against the emulator: OAuth refresh and rotation across syncs, exact records, incremental re-reads."""

import copy
from datetime import datetime, timedelta, timezone

from airbyte_cdk.models import FailureType, SyncMode

from emulator import Emulator
from tests.support.builders import control_configs, emulator_v3_config, final_state, run_read, second_before, sorted_ids, state_for_next_read


def test_lists_and_contacts_match_the_ground_truth(emulator: Emulator, capsys) -> None:
    config = emulator_v3_config(emulator)

    lists = run_read(config, "cc_contact_lists")
    # The refresh token rotated: the next sync starts from the persisted config.
    contacts = run_read(control_configs(capsys.readouterr().out)[-1], "cc_contacts")

    assert sorted_ids(lists, "list_id") == sorted(lst["list_id"] for lst in emulator.data.cc_v3_lists)
    every_contact = sorted(c["contact_id"] for c in emulator.data.cc_v3_contacts)
    assert len(every_contact) > 1000  # more than two pages of 500
    assert sorted(set(sorted_ids(contacts, "contact_id"))) == every_contact
    # A contact that opted out in a later window than its last update is read with both: duplicates, no gaps.
    assert sorted_ids(contacts, "contact_id") == contacts_read_window_by_window(emulator, start="2024-01-01T00:00:00Z")
    first = next(r.record.data for r in contacts.records)
    assert set(first) >= {"contact_id", "email_address", "updated_at", "custom_fields", "list_memberships", "phone_numbers",
                          "street_addresses", "taggings", "notes"}


def test_a_token_expiring_mid_stream_is_refreshed_and_the_sync_completes(emulator: Emulator, capsys) -> None:
    # One window of three pages, so that one request is in flight when the token dies.
    recent = [c["contact_id"] for c in emulator.data.cc_v3_contacts[:1200]]
    emulator.touch_v3_contacts(recent, at=datetime.now(timezone.utc) - timedelta(days=1))
    config = emulator_v3_config(emulator)
    config["start_date"] = (datetime.now(timezone.utc) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    original_access_valid = emulator.oauth.access_valid
    checks = {"count": 0}

    def expire_after_first_page(token: str) -> bool:
        checks["count"] += 1
        if checks["count"] == 2:  # the first page is served; the token dies before the second
            emulator.oauth.expire_access_tokens()
        return original_access_valid(token)

    emulator.oauth.access_valid = expire_after_first_page

    output = run_read(config, "cc_contacts")

    assert sorted_ids(output, "contact_id") == sorted(recent)
    assert output.errors == []
    statuses = [r.status for r in emulator.requests.matching("/v3/contacts")]
    assert statuses.count(401) == 1
    assert len(emulator.requests.matching("/oauth2/default/v1/token")) == 2
    # Each refresh rotated the refresh token and saved it; the last one is the emulator's current one.
    persisted = control_configs(capsys.readouterr().out)
    assert len(persisted) == 2
    assert persisted[-1]["constant_contact"]["credentials"]["refresh_token"] == emulator.current_refresh_token


def test_the_second_sync_uses_the_rotated_config_and_the_old_refresh_token_fails(emulator: Emulator, capsys) -> None:
    first_config = emulator_v3_config(emulator)

    first = run_read(first_config, "cc_contact_lists")
    [rotated] = control_configs(capsys.readouterr().out)
    assert first.errors == [] and len(first.records) == len(emulator.data.cc_v3_lists)
    assert rotated["constant_contact"]["credentials"]["refresh_token"] != first_config["constant_contact"]["credentials"]["refresh_token"]

    # The next sync runs after the access token's hour: it must refresh with the rotated refresh token.
    emulator.oauth.expire_access_tokens()
    second_config = copy.deepcopy(rotated)
    second_config["constant_contact"]["credentials"]["token_expiry_date"] = "2020-01-01T00:00:00+00:00"
    second = run_read(second_config, "cc_contacts")
    [rotated_again] = control_configs(capsys.readouterr().out)
    assert second.errors == [] and len(set(sorted_ids(second, "contact_id"))) == len(emulator.data.cc_v3_contacts)
    assert rotated_again["constant_contact"]["credentials"]["refresh_token"] == emulator.current_refresh_token

    stale = run_read(first_config, "cc_contact_lists", expecting_exception=True)

    assert stale.records == []
    assert {e.trace.error.failure_type for e in stale.errors} == {FailureType.config_error}
    assert "Re-authenticate" in stale.errors[0].trace.error.message
    assert control_configs(capsys.readouterr().out) == []


def test_access_token_mode_reads_with_the_given_token(emulator: Emulator) -> None:
    config = emulator_v3_config(emulator, access_token=True)

    output = run_read(config, "cc_contact_lists")

    assert sorted_ids(output, "list_id") == sorted(lst["list_id"] for lst in emulator.data.cc_v3_lists)
    assert emulator.requests.matching("/oauth2/default/v1/token") == []


def test_incremental_contacts_second_read_returns_exactly_the_touched_and_the_boundary(emulator: Emulator) -> None:
    config = emulator_v3_config(emulator, access_token=True)
    first = run_read(config, "cc_contacts", SyncMode.incremental)
    newest = max(c["updated_at"] for c in emulator.data.cc_v3_contacts)
    assert final_state(first) == {"updated_at": newest}

    touched = [c["contact_id"] for c in emulator.data.cc_v3_contacts[10:13]]
    emulator.touch_v3_contacts(touched)
    boundary = [c["contact_id"] for c in emulator.data.cc_v3_contacts if c["updated_at"] == newest]
    emulator.reset_log()
    second = run_read(config, "cc_contacts", SyncMode.incremental, state=state_for_next_read(first))

    # Records sharing the saved second are read again (inclusive cursor), then the touched ones, and the opt-outs
    # dated since the cursor of contacts updated before it (seeded ones).
    read = contacts_read_window_by_window(emulator, start=newest)
    assert set(touched) | set(boundary) <= set(read)
    assert {cid for cid in read if cid not in touched and cid not in boundary} == {
        c["contact_id"] for c in emulator.data.cc_v3_contacts if (c["email_address"].get("opt_out_date") or "") >= newest > c["updated_at"]}
    assert sorted_ids(second, "contact_id") == read
    assert final_state(second) == {"updated_at": max(c["updated_at"] for c in emulator.data.cc_v3_contacts)}


def test_an_opt_out_that_leaves_updated_at_alone_is_caught_by_the_next_incremental_read(emulator: Emulator) -> None:
    config = emulator_v3_config(emulator, access_token=True)
    first = run_read(config, "cc_contacts", SyncMode.incremental)
    newest = final_state(first)["updated_at"]

    opted_out = [c["contact_id"] for c in emulator.data.cc_v3_contacts[:4] if not c["email_address"].get("opt_out_date")]
    emulator.opt_out_v3_contacts(opted_out)
    emulator.reset_log()
    second = run_read(config, "cc_contacts", SyncMode.incremental, state=state_for_next_read(first))

    by_id = {c["contact_id"]: c for c in emulator.data.cc_v3_contacts}
    assert opted_out and all(by_id[cid]["updated_at"] < newest for cid in opted_out)
    assert set(opted_out) <= set(sorted_ids(second, "contact_id"))
    assert sorted_ids(second, "contact_id") == contacts_read_window_by_window(emulator, start=newest)
    assert {r.record.data["contact_id"]: r.record.data["email_address"]["permission_to_send"] for r in second.records
            if r.record.data["contact_id"] in opted_out} == dict.fromkeys(opted_out, "unsubscribed")
    # An opt-out never moves the cursor: it stays at the newest updated_at.
    assert final_state(second) == {"updated_at": newest}


def contacts_read_window_by_window(emulator: Emulator, start: str) -> list:
    """The contact ids cc_contacts must have read, in sorted order, after checking from the request log that its
    updated_at windows tile the range from `start`, and that each window's updated query and opt-out query (opted
    out in the window, updated before it) were read to their last page, 500 a page."""
    requests = emulator.requests.matching("/v3/contacts")
    # Each window [A, B) is sent one second wider at its start: updated_after=A-1s, updated_before=B.
    windows = sorted((r.query["updated_after"], r.query["updated_before"]) for r in requests if "updated_after" in r.query)
    assert windows[0][0] == second_before(start) and all(second_before(earlier[1]) == later[0] for earlier, later in zip(windows, windows[1:]))
    opt_outs = [r.query for r in requests if "optout_after" in r.query]
    assert sorted((q["optout_after"], q["optout_before"]) for q in opt_outs) == windows
    assert all(second_before(q["updated_before"]) == q["optout_after"] for q in opt_outs)

    read, pages = [], 0
    for after, before in windows:  # as the emulator reads them by default: `after` inclusive, `before` exclusive
        updated = [c for c in emulator.data.cc_v3_contacts if after <= c["updated_at"] < before]
        window_start = [q["updated_before"] for q in opt_outs if q["optout_after"] == after][0]
        opted_out = [c for c in emulator.data.cc_v3_contacts
                     if after <= (c["email_address"].get("opt_out_date") or "") < before and c["updated_at"] < window_start]
        read += [c["contact_id"] for c in updated + opted_out]
        pages += max(1, -(-len(updated) // 500)) + max(1, -(-len(opted_out) // 500))
    assert len(requests) == pages
    return sorted(read)


def test_incremental_lists_second_read_returns_exactly_the_touched_and_the_boundary(emulator: Emulator) -> None:
    config = emulator_v3_config(emulator, access_token=True)
    first = run_read(config, "cc_contact_lists", SyncMode.incremental)
    newest = max(lst["updated_at"] for lst in emulator.data.cc_v3_lists)
    assert final_state(first) == {"updated_at": newest}

    touched = [lst["list_id"] for lst in emulator.data.cc_v3_lists[:2]]
    emulator.touch_v3_lists(touched)
    boundary = [lst["list_id"] for lst in emulator.data.cc_v3_lists if lst["updated_at"] == newest]
    second = run_read(config, "cc_contact_lists", SyncMode.incremental, state=state_for_next_read(first))

    assert sorted_ids(second, "list_id") == sorted(set(touched) | set(boundary))
