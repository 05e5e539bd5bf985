"""Crash and resume: the console script is killed (SIGKILL) at a few points of a multi-page, multi-window sync of
every incremental stream, then run again from the last STATE it printed, until a run completes. The records of all
the runs together are the ground truth: no record is lost, whatever state the runs saved."""

import json
import os
import signal
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import List, Optional, Set, Tuple

import pytest

from emulator import Emulator
from tests.support.builders import emulator_cometly_config, emulator_v2_config, emulator_v3_config
from tests.support.console import CONSOLE_SCRIPT

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def run_until_killed(
    config: dict, stream: str, state: Optional[dict], folder: Path, kill_after: Optional[int],
    kill_at_state: Optional[str] = None, env: Optional[dict] = None,
) -> Tuple[List[dict], Optional[dict], int]:
    """One incremental `read` of `stream` through the console script from `state`, killed with SIGKILL once it has
    printed `kill_after` records (never when None), or a STATE holding the cursor value `kill_at_state`: the records
    it printed, its last STATE's state, its exit code. `env`: the script's environment (default: this one's)."""
    (folder / "config.json").write_text(json.dumps(config))
    entry = {"name": stream, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]}
    (folder / "catalog.json").write_text(json.dumps({"streams": [{"stream": entry, "sync_mode": "incremental", "destination_sync_mode": "append"}]}))
    (folder / "state.json").write_text(json.dumps([state] if state else []))
    args = ["read", "--config", "config.json", "--catalog", "catalog.json", "--state", "state.json"]
    records, last_state = [], state
    with subprocess.Popen([str(CONSOLE_SCRIPT), *args], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env) as sync:
        for line in sync.stdout:
            message = json.loads(line) if line.startswith("{") else {}
            if message.get("type") == "RECORD":
                records.append(message["record"]["data"])
            elif message.get("type") == "STATE":
                last_state = message["state"]
                if kill_at_state is not None and kill_at_state in last_state["stream"]["stream_state"].values():
                    os.kill(sync.pid, signal.SIGKILL)
                    break
            if kill_after is not None and len(records) >= kill_after:
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
    "cc_v2_lists": (emulator_v2_config, lambda r: r["id"], lambda emu: {lst["id"] for lst in emu.data.cc_v2_lists}, [2]),
    "cc_v2_list_contacts": (emulator_v2_config, lambda r: (r["list_id"], r["id"]),
                            lambda emu: {(lst["id"], c["id"]) for lst in emu.data.cc_v2_lists for c in emu.data.v2_list_contacts(lst["id"])},
                            [700, 100]),
    "cometly_contacts": (lambda emu: emulator_cometly_config(emu, window_days=120), lambda r: r["id"], cometly_truth, [900, 400]),
    "cometly_contacts_export": (lambda emu: emulator_cometly_config(emu, window_days=365), lambda r: r["id"], cometly_truth, [900, 400]),
}


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
