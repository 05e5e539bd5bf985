"""The events first-sync scenario: a Cometly space with 200,000 events over 90 days, read by both event streams under
Cometly's documented limits, on the scaled clock of first_sync.py (every "minute" lasts `period` seconds).

Per space and minute Cometly allows 7 event list calls (4,000 events a page), 5 export creations and 30 status polls.
The minimum each stream needs:
- cometly_events_export: one job per local day, 90 jobs at 5 a minute: 18 minutes (at most 5 jobs run at once, so
  on a clock faster than the jobs a batch waits for the one before);
- cometly_events: 200,000 / 4,000 = 50 pages at 7 a minute: a little over 7 minutes (plus the sparse first window).
The connector's api_budget is scaled like the emulator's clock (first_sync.scaled_manifest: a package copy first on
PYTHONPATH). Not wired into benchmarks/__main__.py.
"""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from benchmarks.first_sync import scaled_manifest
from emulator import Emulator

STREAMS = ["cometly_events", "cometly_events_export"]
EVENTS = 200_000
DAYS = 90
JOB_SECONDS = 3.0
LIMITS = {"list": 7, "create": 5, "poll": 30}  # per minute
PAGE = 4000


def build_emulator(events: int = EVENTS, days: int = DAYS, seed: int = 7) -> tuple[Emulator, datetime, datetime]:
    """An emulator whose space (America/New_York) holds `events` events at random over the `days` local days before
    today, and none of the built-in history. Returns it, the first day's local midnight and today's (both UTC)."""
    emu = Emulator(seed=seed, sizes={"cometly_events": 0, "cometly_events_days": 0, "cometly_events_dense_day": 0,
                                     "cc_v3_contacts": 10, "cc_v2_list_members": {"1": 10, "2": 0, "3": 0, "4": 0}})
    zone = ZoneInfo(emu.cometly_timezone)
    today = datetime.now(zone).date()
    first, last = (datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(timezone.utc)
                   for d in (today - timedelta(days=days), today))
    rng = random.Random(seed)
    span = int((last - first).total_seconds())
    for offset in sorted(rng.randrange(span) for _ in range(events)):
        emu.add_cometly_events(1, at=first + timedelta(seconds=offset))
    return emu, first, last


def calls(emu: Emulator) -> tuple[dict, dict]:
    """Answered calls per events endpoint (list, create, poll, download) and the 429s each drew."""
    answered = {"list": 0, "create": 0, "poll": 0, "download": 0}
    limited = dict.fromkeys(answered, 0)
    for request in emu.requests.matching("/public-api/v1/events"):
        endpoint = "list" if request.path.endswith("/events") else "create" if request.path.endswith("/exports") else "poll"
        (limited if request.status == 429 else answered)[endpoint] += 1
    for request in emu.file_requests:
        (limited if request.status == 429 else answered)["download"] += 1
    return answered, limited


def minimum_seconds(stream: str, period: float, days: int = DAYS, events: int = EVENTS) -> float:
    """The least wall time the limits allow to the last record, on the scaled clock."""
    if stream == "cometly_events_export":
        # Batches of 5 jobs, one a minute, none sooner than the batch before has finished (5 jobs at once).
        return (math.ceil(days / LIMITS["create"]) - 1) * max(period, JOB_SECONDS) + JOB_SECONDS
    return (math.ceil(events / PAGE / LIMITS["list"]) - 1) * period


def run(period: float, measure: Callable[..., dict], connector: str, work: Path, catalog: dict) -> list[dict]:
    """Reads each event stream once in full refresh from the first day; a row per stream with its wall time to the last
    record, jobs, calls and 429s beside the minimum the limits allow."""
    emu, first, _ = build_emulator()
    emu.faults.enforce_rate_limits = True
    emu.faults.rate_limit_period = period
    emu.faults.job_seconds = JOB_SECONDS
    cwd = scaled_manifest(work, period)
    rows = []
    with emu:
        cometly = {key: emu.config()["cometly"][key] for key in ("api_key", "api_url", "timezone")}
        config = work / "events-first-sync.config.json"
        config.write_text(json.dumps({"start_date": first.strftime("%Y-%m-%dT%H:%M:%SZ"), "cometly": cometly}))
        for stream in STREAMS:
            emu.reset_log()
            configured = work / f"events-first-sync.{stream}.catalog.json"
            configured.write_text(json.dumps({"streams": [{"stream": catalog[stream], "sync_mode": "full_refresh",
                                                           "destination_sync_mode": "overwrite"}]}))
            result = measure([connector, "read", "--config", str(config), "--catalog", str(configured)], cwd=cwd)
            answered, limited = calls(emu)
            rows.append({"stream": stream, "scenario": "events_first_sync", "expected": EVENTS, "connector": result,
                         "jobs": answered["create"], "calls": answered, "rate_limited": limited,
                         "seconds_to_last_record": result.get("last_record_s"),
                         "minimum_seconds": minimum_seconds(stream, period)})
    return rows
