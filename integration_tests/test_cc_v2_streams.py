"""Constant Contact v2 lists and list membership against the emulator: exact rows, pages, per-list state."""

from pathlib import Path
from typing import Dict, List, Optional

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput

from emulator import Emulator
from integration_tests.console import error_traces, read_via_console
from unit_tests.builders import run_read


def _v2_config(emu: Emulator, **section: object) -> dict:
    config = emu.config()
    return {"start_date": config["start_date"], "constant_contact_v2": {**config["constant_contact_v2"], **section}}


def _rows(output: EntrypointOutput) -> List[tuple]:
    return sorted((r.record.data["list_id"], r.record.data["id"]) for r in output.records)


def _list_cursors(output: EntrypointOutput) -> Dict[str, str]:
    state = output.most_recent_state.stream_state.__dict__
    return {s["partition"]["list_id"]: s["cursor"]["updated_at"] for s in state["states"]}


def _read_members(config: dict, state: Optional[list] = None) -> EntrypointOutput:
    return run_read(config, "cc_v2_list_contacts", SyncMode.incremental, state=state)


def test_every_member_of_every_list_across_pages(emulator: Emulator) -> None:
    config = _v2_config(emulator)

    lists = run_read(config, "cc_v2_lists")
    members = run_read(config, "cc_v2_list_contacts")

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
    config = _v2_config(emulator)
    first = _read_members(config)
    cursors = _list_cursors(first)
    assert set(cursors) == {"1", "2", "3", "4"}

    only_in_list_1 = [cid for cid in emulator.data.cc_v2_members["1"] if all(cid not in emulator.data.cc_v2_members[other] for other in "234")]
    touched = emulator.touch_v2_members("1", only_in_list_1[:3])
    emulator.touch_v2_members("4", emulator.data.cc_v2_members["4"][:1])
    second = _read_members(config, state=[first.state_messages[-1].state])

    # Inclusive cursors: members stamped exactly at a list's saved cursor come again (duplicates, never gaps).
    expected = sorted(
        (list_id, c["id"])
        for list_id in "1234"
        for c in emulator.data.v2_list_contacts(list_id)
        if c["last_update_date"] >= cursors[list_id]
    )
    assert _rows(second) == expected
    assert {("1", c["id"]) for c in touched} <= set(_rows(second))
    assert len(expected) < 10
    advanced = _list_cursors(second)
    assert advanced["1"] == touched[0]["last_update_date"] > cursors["1"]
    assert advanced["2"] == cursors["2"] and advanced["3"] == cursors["3"]
    sent = {r.path.split("/")[3]: r.query["modified_since"] for r in emulator.requests.matching("/contacts") if "next" not in r.query}
    assert sent["1"] == cursors["1"] and sent["2"] == cursors["2"]


def test_changed_list_is_read_again(emulator: Emulator) -> None:
    config = _v2_config(emulator)
    first = run_read(config, "cc_v2_lists", SyncMode.incremental)
    emulator.touch_v2_lists(["2"])

    saved = first.most_recent_state.stream_state.__dict__["modified_date"]
    second = run_read(config, "cc_v2_lists", SyncMode.incremental, state=[first.state_messages[-1].state])

    expected = sorted(lst["id"] for lst in emulator.data.cc_v2_lists if lst["modified_date"] >= saved)
    assert "2" in expected and len(expected) <= 2  # the touched list, plus any list stamped at the saved cursor
    assert sorted(r.record.data["id"] for r in second.records) == expected


def test_missing_list_fails_naming_it_without_leaking_secrets(emulator: Emulator, tmp_path: Path) -> None:
    result = read_via_console(_v2_config(emulator, list_ids=["1", "99"]), "cc_v2_list_contacts", tmp_path)

    errors = error_traces(result.stdout)
    assert any("/v2/lists/99/contacts" in e["message"] and "list_ids" in e["message"] for e in errors)
    assert errors[0]["failure_type"] == "config_error"
    output = result.stdout + result.stderr
    assert "emu-v2-api-key" not in output and "emu-v2-access-token" not in output
