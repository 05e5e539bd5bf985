"""The v3 calls and wall time of one sync of the Constant Contact engagement streams (`cc_email_*`): a full sync, then an
incremental sync with nothing new, through the console script against the emulator. The lead wires it into the
benchmark table; `python -m benchmarks.engagement` prints one run at a scaled-down account."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emulator import Emulator
from emulator.engagement_data import BENCHMARK_SIZES

CONSOLE_SCRIPT = Path(sys.executable).parent / "source-contacts"
ROOT = Path(__file__).resolve().parent.parent
FULL_REFRESH_ONLY = {"cc_email_send_history", "cc_email_did_not_opens", "cc_email_campaign_activity_stats", "cc_email_links"}
STREAMS = ["cc_email_campaign_activities", "cc_email_send_history", "cc_email_sends", "cc_email_opens", "cc_email_unique_opens",
           "cc_email_clicks", "cc_email_bounces", "cc_email_optouts", "cc_email_forwards", "cc_email_did_not_opens",
           "cc_email_campaign_activity_stats", "cc_email_links"]
CALLS_PER_SECOND = 4   # the v3 API's limit: the least wall time a number of calls can take


def _catalog() -> dict:
    entries = []
    for stream in STREAMS:
        mode = "full_refresh" if stream in FULL_REFRESH_ONLY else "incremental"
        entries.append({"stream": {"name": stream, "json_schema": {}, "supported_sync_modes": ["full_refresh", mode]},
                        "sync_mode": mode, "destination_sync_mode": "append"})
    return {"streams": entries}


def _sync(emu: Emulator, folder: Path, state: list, window_days: int) -> tuple[dict, list]:
    """One `read` of every engagement stream from `state`: its cost, and the last state of each stream."""
    config = emu.config()
    section = {**config["constant_contact"], "engagement_window_days": window_days,
               "credentials": {"auth_type": "access_token", "access_token": emu.issue_access_token()}}
    (folder / "config.json").write_text(json.dumps({"start_date": config["start_date"], "constant_contact": section}))
    (folder / "catalog.json").write_text(json.dumps(_catalog()))
    (folder / "state.json").write_text(json.dumps(state))
    calls_before, started = emu.cc_v3_calls_today(), time.monotonic()
    # This checkout's connector, whichever the console script was installed from.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    files = [str(folder / name) for name in ("config.json", "catalog.json", "state.json")]
    sync = subprocess.run([str(CONSOLE_SCRIPT), "read", "--config", files[0], "--catalog", files[1], "--state", files[2]],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    seconds = time.monotonic() - started
    records, states = 0, {}
    for line in sync.stdout.splitlines():
        message = json.loads(line) if line.startswith("{") else {}
        if message.get("type") == "RECORD":
            records += 1
        elif message.get("type") == "STATE":
            states[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
    calls = emu.cc_v3_calls_today() - calls_before
    cost = {"calls": calls, "seconds": round(seconds, 1), "records": records, "minimum_seconds": round(calls / CALLS_PER_SECOND, 1)}
    return cost, list(states.values())


def engagement_sync_costs(sizes: dict | None = None, window_days: int = 30) -> dict:
    """{"full": cost, "incremental": cost} of syncing every cc_email_* stream of an account of `sizes` (default
    engagement_data.BENCHMARK_SIZES: 50 campaigns of 10,000 recipients); each cost is the v3 calls it spent (the
    emulator's count), its wall time, the records it emitted and the least time those calls take at 4 a second."""
    with Emulator(sizes=sizes or BENCHMARK_SIZES) as emu, tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        full, state = _sync(emu, folder, [], window_days)
        incremental, _ = _sync(emu, folder, state, window_days)
    return {"full": full, "incremental": incremental}


if __name__ == "__main__":
    small = {**BENCHMARK_SIZES, "cc_v3_campaigns": 5, "cc_v3_contacts": 1_000, "cc_v3_recipients": 1_000}
    print(json.dumps(engagement_sync_costs(small), indent=2))
