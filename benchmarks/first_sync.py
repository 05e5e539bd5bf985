"""The first-sync scenario: a Cometly space with years of contacts, read under Cometly's documented limits.

Cometly allows, per space and minute, 15 list calls, 5 export creations and 30 export status polls. The emulator
enforces them as sliding windows answering 429 with Retry-After, on a faster clock when `period` is below 60 s
(every "minute" lasts `period` seconds). The connector's own api_budget runs on the same clock: it runs from a copy of
its package whose manifest has the api_budget intervals scaled by period / 60. Export jobs take
`job_seconds` (not scaled). Each Cometly stream is read in full refresh from the first contact's day.
"""

from __future__ import annotations

import json
import random
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import yaml
from isodate import duration_isoformat, parse_duration

from emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
STREAMS = ["cometly_contacts", "cometly_contacts_export"]
YEARS = 6
JOB_SECONDS = 3.0


def build_emulator(contacts: int, seed: int = 7) -> tuple[Emulator, datetime]:
    """An emulator whose Cometly space holds `contacts` contacts created at random over the last YEARS years.

    Returns the emulator and the first contact's day (UTC midnight), the sync's start_date."""
    emu = Emulator(seed=seed, sizes={"cometly_contacts": 0, "cc_v3_contacts": 10,
                                     "cc_v2_list_members": {"1": 10, "2": 0, "3": 0, "4": 0}})
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = (now - timedelta(days=365 * YEARS)).replace(hour=0, minute=0, second=0)
    rng = random.Random(seed)
    span = int((now - timedelta(hours=1) - start).total_seconds())
    for offset in sorted(rng.randrange(span) for _ in range(contacts)):
        emu.add_cometly_contacts(1, at=start + timedelta(seconds=offset))
    return emu, start


def scaled_manifest(folder: Path, period: float) -> Path:
    """A copy of the connector's package in `folder` whose manifest has every api_budget interval scaled by period / 60;
    run the connector with `folder` first on PYTHONPATH (harness.measure does, with cwd=folder)."""
    package = folder / "source_contacts"
    if not package.exists():
        shutil.copytree(ROOT / "source_contacts", package, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = yaml.safe_load((ROOT / "source_contacts" / "manifest.yaml").read_text())
    for policy in manifest["api_budget"]["policies"]:
        for rate in policy["rates"]:
            rate["interval"] = duration_isoformat(parse_duration(rate["interval"]) * (period / 60))
    (package / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


def calls(emu: Emulator) -> tuple[dict, dict]:
    """Answered calls per Cometly endpoint (list, create, poll, download) and the 429s each drew."""
    answered = {"list": 0, "create": 0, "poll": 0, "download": 0}
    limited = dict.fromkeys(answered, 0)
    for request in emu.requests.matching("/public-api/v1/contacts"):
        endpoint = ("list" if request.path.endswith("/contacts") else "create" if request.path.endswith("/exports")
                    else "poll")
        (limited if request.status == 429 else answered)[endpoint] += 1
    for request in emu.file_requests:
        (limited if request.status == 429 else answered)["download"] += 1
    return answered, limited


def run(contacts: int, period: float, measure: Callable[..., dict], connector: str, work: Path, catalog: dict) -> list[dict]:
    """Reads each Cometly stream of the scenario once; a row per stream with its wall time, calls and 429s."""
    emu, start = build_emulator(contacts)
    emu.faults.enforce_rate_limits = True
    emu.faults.rate_limit_period = period
    emu.faults.job_seconds = JOB_SECONDS
    cwd = scaled_manifest(work, period)
    rows = []
    with emu:
        cometly = {key: emu.config()["cometly"][key] for key in ("api_key", "api_url", "timezone")}  # default windows
        config = work / "first-sync.config.json"
        config.write_text(json.dumps({"start_date": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "cometly": cometly}))
        for stream in STREAMS:
            emu.reset_log()
            configured = work / f"first-sync.{stream}.catalog.json"
            configured.write_text(json.dumps({"streams": [{"stream": catalog[stream], "sync_mode": "full_refresh",
                                                           "destination_sync_mode": "overwrite"}]}))
            result = measure([connector, "read", "--config", str(config), "--catalog", str(configured)], cwd=cwd)
            answered, limited = calls(emu)
            rows.append({"stream": stream, "scenario": "first_sync", "expected": contacts, "connector": result,
                         "calls": answered, "rate_limited": limited})
    return rows
