"""Crash and resume: the console script is killed (SIGKILL) at a few points of a multi-page, multi-window sync of
every incremental stream, then run again from the last STATE it printed, until a run completes. The records of all
the runs together are the ground truth: no record is lost, whatever state the runs saved. And the state saved is
used: each resumed run reads fewer records than a whole sync, and its first request starts at the saved cursor."""

import json
import os
import signal
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import List, Optional, Set, Tuple
from zoneinfo import ZoneInfo

import pytest

from emulator import Emulator
from tests.support.builders import emulator_cometly_config, emulator_v2_config, emulator_v3_config
from tests.support.console import CONSOLE_SCRIPT

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def run_until_killed(
    config: dict, stream: str, state: Optional[dict], folder: Path, kill_after: Optional[int], kill_after_states: Optional[int] = None
) -> Tuple[List[dict], Optional[dict], int]:
    """One incremental `read` of `stream` through the console script from `state`, killed with SIGKILL once it has
    printed `kill_after` records, or `kill_after_states` STATE messages after its first record (never when None): the
    records it printed, its last STATE's state, its exit code."""
    (folder / "config.json").write_text(json.dumps(config))
    entry = {"name": stream, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]}
    (folder / "catalog.json").write_text(json.dumps({"streams": [{"stream": entry, "sync_mode": "incremental", "destination_sync_mode": "append"}]}))
    (folder / "state.json").write_text(json.dumps([state] if state else []))
    args = ["read", "--config", "config.json", "--catalog", "catalog.json", "--state", "state.json"]
    records, last_state, states = [], state, 0
    with subprocess.Popen([str(CONSOLE_SCRIPT), *args], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as sync:
        for line in sync.stdout:
            message = json.loads(line) if line.startswith("{") else {}
            if message.get("type") == "RECORD":
                records.append(message["record"]["data"])
            elif message.get("type") == "STATE":
                last_state, states = message["state"], states + bool(records)
            if (kill_after is not None and len(records) >= kill_after) or (kill_after_states is not None and states >= kill_after_states):
                os.kill(sync.pid, signal.SIGKILL)
                break
        return records, last_state, sync.wait(timeout=180)


def cometly_truth(emulator: Emulator) -> Set:
    return {c["id"] for c in emulator.data.cometly_between(START, datetime.now(timezone.utc))}


SCENARIOS = {
    # stream: (config, primary key of a record, ground truth, records after which the first runs are killed)
    "cc_contacts": (lambda emu: emulator_v3_config(emu, access_token=True), lambda r: r["contact_id"],
                    lambda emu: {c["contact_id"] for c in emu.data.cc_v3_contacts}, [700, 300]),
    "cc_contact_lists": (lambda emu: emulator_v3_config(emu, access_token=True), lambda r: r["list_id"],
                         lambda emu: {lst["list_id"] for lst in emu.data.cc_v3_lists}, [10]),
    "cc_contacts_export": (lambda emu: emulator_v3_config(emu, access_token=True), lambda r: r["email_address"],
                           lambda emu: {c["email_address"]["address"] for c in emu.data.cc_v3_contacts}, [600]),
    "cc_contact_custom_fields": (lambda emu: emulator_v3_config(emu, access_token=True), lambda r: r["custom_field_id"],
                                 lambda emu: {f["custom_field_id"] for f in emu.data.cc_v3_custom_fields}, []),  # one page
    "cc_contact_tags": (lambda emu: emulator_v3_config(emu, access_token=True), lambda r: r["tag_id"],
                        lambda emu: {t["tag_id"] for t in emu.data.cc_v3_tags}, []),
    "cc_segments": (lambda emu: emulator_v3_config(emu, access_token=True), lambda r: r["segment_id"],
                    lambda emu: {s["segment_id"] for s in emu.data.cc_v3_segments if s["edited_at"] >= "2024-01-01"}, [3]),
    "cc_email_campaigns": (lambda emu: emulator_v3_config(emu, access_token=True), lambda r: r["campaign_id"],
                           lambda emu: {c["campaign_id"] for c in emu.data.cc_v3_campaigns if c["updated_at"] >= "2024-01-01"}, [600]),
    "cc_v2_lists": (emulator_v2_config, lambda r: r["id"], lambda emu: {lst["id"] for lst in emu.data.cc_v2_lists}, [2]),
    "cc_v2_list_contacts": (emulator_v2_config, lambda r: (r["list_id"], r["id"]),
                            lambda emu: {(lst["id"], c["id"]) for lst in emu.data.cc_v2_lists for c in emu.data.v2_list_contacts(lst["id"])},
                            [700, 100]),
    "cometly_contacts": (lambda emu: emulator_cometly_config(emu, window_days=120), lambda r: r["id"], cometly_truth, [900, 400]),
    "cometly_contacts_export": (lambda emu: emulator_cometly_config(emu, window_days=365), lambda r: r["id"], cometly_truth, [900, 400]),
}


# Streams that save state before their last window or list closes: kill after their second STATE, resume from it.
CHECKPOINTING = {
    # stream: (config, the lower bound its first request of a run sends, read from the emulator's log)
    "cc_contacts": (lambda emu: emulator_v3_config(emu, access_token=True),
                    lambda emu: min(second_after(r.query["updated_after"]) for r in emu.requests.matching("/v3/contacts") if "updated_after" in r.query)),
    "cc_v2_list_contacts": (emulator_v2_config, lambda emu: min(r.query["modified_since"] for r in emu.requests.matching("/v2/lists/")
                                                               if "modified_since" in r.query)),
    "cometly_contacts": (lambda emu: emulator_cometly_config(emu, window_days=120),
                         lambda emu: min(space_to_utc(emu, r.query["start_date"]) for r in emu.requests.matching("/public-api/v1/contacts"))),
    "cometly_contacts_export": (lambda emu: emulator_cometly_config(emu, export_window_days=120),
                                lambda emu: min(space_to_utc(emu, json.loads(r.body)["start_date"]) for r in emu.requests.matching("/contacts/exports", method="POST"))),
}


def second_after(stamp: str) -> str:
    return (datetime.fromisoformat(stamp.replace("Z", "+00:00")) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def space_to_utc(emu: Emulator, value: str) -> str:
    local = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(emu.cometly_timezone))
    return local.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cursor_values(node) -> list:
    """Every cursor value in a stream state, whatever its shape (per list, nested)."""
    if isinstance(node, dict):
        return [v for key, value in node.items() for v in ([value] if key in ("updated_at", "created_at") else cursor_values(value))]
    if isinstance(node, list):
        return [v for item in node for v in cursor_values(item)]
    return []


@pytest.mark.parametrize("stream", list(SCENARIOS))
def test_a_sync_killed_and_resumed_from_its_last_state_loses_no_record(emulator: Emulator, tmp_path: Path, stream: str) -> None:
    config_for, key, truth_of, kill_points = SCENARIOS[stream]
    config, state, seen, attempts = config_for(emulator), None, set(), []

    for kill_after in [*kill_points, None]:
        records, state, exit_code = run_until_killed(config, stream, state, tmp_path, kill_after)
        seen |= {key(record) for record in records}
        attempts.append((len(records), exit_code))

    assert attempts[:-1] == [(kill_after, -signal.SIGKILL) for kill_after in kill_points]
    assert attempts[-1][1] == 0
    assert seen == truth_of(emulator)


@pytest.mark.parametrize("stream", list(CHECKPOINTING))
def test_a_resumed_sync_reads_less_than_a_whole_one_and_starts_at_the_saved_cursor(emulator: Emulator, tmp_path: Path, stream: str) -> None:
    config_for, first_bound = CHECKPOINTING[stream]
    _, key, truth_of, _ = SCENARIOS[stream]
    config = config_for(emulator)
    whole, _, _ = run_until_killed(config, stream, None, tmp_path, None)
    before, saved, killed = run_until_killed(config, stream, None, tmp_path, None, kill_after_states=2)
    emulator.reset_log()
    after, _, exit_code = run_until_killed(config, stream, saved, tmp_path, None)

    assert (killed, exit_code) == (-signal.SIGKILL, 0)
    assert len(after) < len(whole)
    assert {key(r) for r in before} | {key(r) for r in after} == truth_of(emulator)
    # The first request of the resumed run starts at the saved cursor (the oldest of a per-list state).
    assert first_bound(emulator)[:19] == min(cursor_values(saved["stream"]["stream_state"]))[:19]
