"""Smoke run of the benchmark harness (`python -m benchmarks --scale small`) on one stream: correctness only, no timings."""

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.harness import SCALES, START_DATE
from emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent


def test_connector_and_baseline_emit_the_emulator_ground_truth(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--scale", "small", "--streams", "cometly_contacts_export",
         "--output", str(tmp_path / "results.md"), "--json", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    # Ground truth from a dataset built here with the same sizes, not from the harness's own count.
    start = datetime.fromisoformat(START_DATE.replace("Z", "+00:00"))
    expected = len(Emulator(sizes=SCALES["small"]).data.cometly_between(start, datetime.now(timezone.utc)))
    assert expected == SCALES["small"]["cometly_contacts"]

    [row] = json.loads(results.read_text())["rows"]
    assert row["stream"] == "cometly_contacts_export"
    assert row["connector"]["records"] == expected
    assert row["baseline"]["records"] == expected
    assert row["connector"]["fields"] == row["baseline"]["fields"]
    assert row["problems"] == []
    assert "| cometly_contacts_export | 5,000 |" in (tmp_path / "results.md").read_text()
