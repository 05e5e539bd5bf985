"""Constant Contact v2 lists and list membership against the emulator: exact rows, pages, per-list state, masked traces."""

from pathlib import Path
from typing import Dict, List

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput

from emulator import Emulator
from tests.support.builders import emulator_v2_config, final_state, run_read, state_for_next_read
from tests.support.console import error_traces, read_via_console

MEMBERS = "cc_v2_list_contacts"


def _rows(output: EntrypointOutput) -> List[tuple]:
    return sorted((r.record.data["list_id"], r.record.data["id"]) for r in output.records)


def _list_cursors(output: EntrypointOutput) -> Dict[str, str]:
    return {s["partition"]["list_id"]: s["cursor"]["updated_at"] for s in final_state(output)["states"]}


def test_every_member_of_every_list_across_pages(emulator: Emulator) -> None:
    config = emulator_v2_config(emulator)

    lists = run_read(config, "cc_v2_lists")
    members = run_read(config, MEMBERS)

    assert sorted(r.record.data["id"] for r in lists.records) == ["1", "2", "3", "4"]
    expected = sorted((lst["id"], c["id"]) for lst in emulator.data.cc_v2_lists for c in emulator.data.v2_list_contacts(lst["id"]))
    assert len(expected) == 1203 + 57 + 0 + 4
    assert _rows(members) == expected
    first = next(r.record.data for r in members.records if r.record.data["list_id"] == "1")
    assert first["updated_at"] == emulator.data.cc_v2_contacts[first["id"]]["last_update_date"]
    pages = emulator.requests.matching("/v2/lists/1/contacts")
    assert len(pages) == 3  # 1,203 members at limit=500
    assert all(page.query["api_key"] == "emu-v2-api-key" for page in pages)
    assert [("next" in page.query) for page in pages] == [False, True, True]


def test_second_incremental_read_returns_exactly_the_changed_members(emulator: Emulator) -> None:
    config = emulator_v2_config(emulator)
    first = run_read(config, MEMBERS, SyncMode.incremental)
    cursors = _list_cursors(first)
    assert set(cursors) == {"1", "2", "3", "4"}

    # Inclusive cursors: members stamped exactly at a list's saved cursor come again (duplicates, never gaps).
    members = emulator.data.cc_v2_members
    boundary = {
        (list_id, c["id"]) for list_id in "1234" for c in emulator.data.v2_list_contacts(list_id) if c["last_update_date"] == cursors[list_id]
    }
    only_in_list_1 = [cid for cid in members["1"] if all(cid not in members[other] for other in "234")]
    touched = emulator.touch_v2_members("1", only_in_list_1[:3])
    touched_in_4 = emulator.touch_v2_members("4", members["4"][:1])
    second = run_read(config, MEMBERS, SyncMode.incremental, state=state_for_next_read(first))

    touched_ids = {c["id"] for c in touched + touched_in_4}  # a contact changes in every list it belongs to
    changed = {(list_id, cid) for list_id in "1234" for cid in members[list_id] if cid in touched_ids}
    assert _rows(second) == sorted(changed | boundary)
    advanced = _list_cursors(second)
    assert advanced["1"] == touched[0]["last_update_date"] > cursors["1"]
    assert advanced["2"] == cursors["2"] and advanced["3"] == cursors["3"]
    sent = {r.path.split("/")[3]: r.query["modified_since"] for r in emulator.requests.matching("/contacts") if "next" not in r.query}
    assert sent["1"] == cursors["1"] and sent["2"] == cursors["2"]


def test_changed_list_is_read_again(emulator: Emulator) -> None:
    config = emulator_v2_config(emulator)
    first = run_read(config, "cc_v2_lists", SyncMode.incremental)
    saved = final_state(first)["modified_date"]
    at_saved_cursor = {lst["id"] for lst in emulator.data.cc_v2_lists if lst["modified_date"] == saved}

    emulator.touch_v2_lists(["2"])
    second = run_read(config, "cc_v2_lists", SyncMode.incremental, state=state_for_next_read(first))

    # The touched list, and again the lists stamped at the saved cursor (inclusive).
    assert sorted(r.record.data["id"] for r in second.records) == sorted({"2"} | at_saved_cursor)


def test_the_console_script_masks_the_api_key_in_a_failed_streams_error_trace(emulator: Emulator, tmp_path: Path) -> None:
    # A missing list fails the stream; the CDK puts the request URL, api_key in its query, in the trace.
    result = read_via_console(emulator_v2_config(emulator, list_ids=["1", "99"]), MEMBERS, tmp_path)

    [error] = [e for e in error_traces(result.stdout) if e.get("stream_descriptor", {}).get("name") == MEMBERS]
    assert "/v2/lists/99/contacts?" in error["internal_message"] and "api_key=****" in error["internal_message"]
    output = result.stdout + result.stderr
    assert "emu-v2-api-key" not in output and "emu-v2-access-token" not in output
