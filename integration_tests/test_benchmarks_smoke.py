"""Smoke run of the benchmark harness (`python -m benchmarks --scale small`) on one stream and the first-sync scenario:
correctness only, no timings."""

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.harness import FIRST_SYNC_CONTACTS, SCALES, START_DATE, TOKEN_SIZES
from emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent


def test_connector_and_baseline_emit_the_emulator_ground_truth_and_the_first_sync_stays_within_the_limits(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--scale", "small", "--streams", "cometly_contacts_export",
         "--output", str(tmp_path / "results.md"), "--json", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    # Ground truth from a dataset built here with the same sizes, not from the harness's own count.
    start = datetime.fromisoformat(START_DATE.replace("Z", "+00:00"))
    sizes = {**TOKEN_SIZES, "cometly_contacts": SCALES["small"]["cometly_contacts"]}
    expected = len(Emulator(sizes=sizes).data.cometly_between(start, datetime.now(timezone.utc)))
    assert expected == SCALES["small"]["cometly_contacts"]

    throughput, *first_sync = json.loads(results.read_text())["rows"]
    assert throughput["stream"] == "cometly_contacts_export"
    assert throughput["records"] == expected
    assert throughput["raw"]["baseline"]["records"] == expected
    assert throughput["raw"]["connector"]["fields"] == throughput["raw"]["baseline"]["fields"]
    assert throughput["ratio"] == throughput["connector_rps"] / throughput["baseline_rps"]
    assert throughput["problems"] == []
    assert "| cometly_contacts_export | 5,000 |" in (tmp_path / "results.md").read_text()

    # Every contact of the scenario's space, each stream read once, within the call bounds.
    assert [row["stream"] for row in first_sync] == ["cometly_contacts", "cometly_contacts_export"]
    listing, export = first_sync
    assert [row["records"] for row in first_sync] == [FIRST_SYNC_CONTACTS["small"]] * 2
    assert all(row["problems"] == [] and row["wall_s"] > 0 and row["baseline_rps"] is None for row in first_sync)
    assert listing["calls"] == {"list": listing["calls"]["list"], "create": 0, "poll": 0, "download": 0}
    assert 1 <= listing["calls"]["list"] <= 30
    assert export["calls"]["list"] == 0 and 1 <= export["calls"]["create"] <= 8
    assert export["calls"]["download"] == export["calls"]["create"]
    assert "## First sync under Cometly's limits" in (tmp_path / "results.md").read_text()
