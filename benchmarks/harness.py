"""Records/s and peak memory of the connector against a plain-Python baseline, per stream (`python -m benchmarks`).

Starts the bundled emulator, then for each stream runs `source-contacts read` and `benchmarks/baseline.py` as
subprocesses (each inside its own `benchmarks.measure` process, which isolates its peak RSS), checks that both
emitted the emulator's ground-truth record count, prints a table and writes it to benchmarks/out/results.md
(`--update-results` also replaces the committed benchmarks/results.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
COMMITTED_RESULTS = ROOT / "benchmarks" / "results.md"
STREAMS = ["cometly_contacts_export", "cc_contacts_export", "cc_v2_contacts_export", "cc_contacts", "cometly_contacts"]
START_DATE = "2024-01-01T00:00:00Z"
SCALES = {
    # Emulator dataset sizes (emulator/dataset.py DEFAULT_SIZES keys); v2 export = sum of the list sizes.
    "full": {"cometly_contacts": 200_000, "cc_v3_contacts": 100_000,
             "cc_v2_list_members": {"1": 80_000, "2": 20_000, "3": 0, "4": 4}},
    "small": {"cometly_contacts": 5_000, "cc_v3_contacts": 5_000,
              "cc_v2_list_members": {"1": 4_000, "2": 1_000, "3": 0, "4": 4}},
}
# cc_contacts pages 500 records at Constant Contact's 4 requests/s (connector and baseline alike): a 2,000 rec/s
# ceiling. At full scale it reads only contacts updated since this date, so the reference costs ~10 s, not 50.
REFERENCE_START = {"full": {"cc_contacts": "2025-06-01T00:00:00Z"}}


def ground_truth(emu: Emulator, stream: str, start_date: str) -> int:
    """Records a full-refresh read of `stream` from `start_date` must emit, counted from the emulator's data."""
    data = emu.data
    if stream.startswith("cometly"):
        start = datetime.fromisoformat(start_date.replace("Z", "+00:00"))
        return len(data.cometly_between(start, datetime.now(timezone.utc)))
    if stream in ("cc_contacts", "cc_contacts_export"):
        return sum(1 for contact in data.cc_v3_contacts if contact["updated_at"] >= start_date)
    if stream == "cc_v2_contacts_export":
        return sum(len(members) for members in data.cc_v2_members.values())
    raise ValueError(f"no ground truth for {stream}")


def cache_export_builds(emu: Emulator) -> None:
    """Build each export file (and the v2 export's row listing) once per identical request, so timed runs measure the clients.

    The emulator builds a job's file on first download (2-4 s at full scale) and lists a v2 export's rows again at
    job creation and at every download (1-2 s each); with these caches the untimed warm-up run pays for both.
    """
    build_file, files = emu.jobs.file_bytes, {}

    def file_bytes(job, build):
        key = (job.api, _params_key(job.params))
        if key not in files:
            files[key] = (build_file(job, build), job.record_count)
        blob, job.record_count = files[key]
        return blob

    emu.jobs.file_bytes = file_bytes
    [cc_v2] = [api for api in emu._apis if type(api).__name__ == "CcV2"]
    list_rows, rows = cc_v2._rows, {}

    def v2_rows(params):
        key = _params_key(params)
        if key not in rows:
            rows[key] = list_rows(params)
        return rows[key]

    cc_v2._rows = v2_rows


def _params_key(params: dict) -> str:
    """A job's request parameters as a hashable key (sets sorted, so equal requests give equal keys)."""
    return repr(sorted((name, sorted(value) if isinstance(value, set) else value) for name, value in params.items()))


def measure(command: list[str]) -> dict:
    """Run `command` inside a fresh benchmarks.measure process; its JSON report."""
    wrapper = subprocess.run([sys.executable, "-m", "benchmarks.measure", "--", *command],
                             cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(wrapper.stdout)


def write_json(path: Path, value) -> str:
    path.write_text(json.dumps(value))
    return str(path)


def run_stream(emu: Emulator, catalog: dict, stream: str, start_date: str, work: Path,
               repeat: int) -> dict:
    """Warm up with one untimed baseline run, then time connector and baseline `repeat` times each (fastest kept)."""
    connector = str(Path(sys.executable).parent / "source-contacts")
    configured = {"streams": [{"stream": catalog[stream], "sync_mode": "full_refresh",
                               "destination_sync_mode": "overwrite"}]}
    catalog_path = write_json(work / f"{stream}.catalog.json", configured)

    def config() -> str:  # fresh each run: the v3 refresh token is single use
        return write_json(work / f"{stream}.config.json", {**emu.config(), "start_date": start_date})

    def baseline() -> list[str]:
        return [sys.executable, "-m", "benchmarks.baseline", "--config", config(), "--stream", stream]

    measure(baseline())
    runs = {"connector": [], "baseline": []}
    for _ in range(repeat):
        runs["connector"].append(measure([connector, "read", "--config", config(), "--catalog", catalog_path]))
        runs["baseline"].append(measure(baseline()))
    row = {"stream": stream, "start_date": start_date, "expected": ground_truth(emu, stream, start_date)}
    for side, results in runs.items():
        row[side] = min(results, key=lambda result: result["seconds"])
    return row


def problems(row: dict) -> list[str]:
    """What makes a row untrustworthy: a failed run, a wrong record count, different record fields."""
    found = []
    for side in ("connector", "baseline"):
        result = row[side]
        if result["returncode"] != 0:
            found.append(f"{side} exited {result['returncode']}: {result['tail'][-1:]} {result['stderr'][-500:]}")
        if result["records"] != row["expected"]:
            found.append(f"{side} emitted {result['records']} records, the emulator holds {row['expected']}")
    if set(row["connector"]["fields"]) != set(row["baseline"]["fields"]):
        found.append(f"fields differ: connector {row['connector']['fields']}, baseline {row['baseline']['fields']}")
    return found


def table(rows: list[dict]) -> str:
    head = ["stream", "records", "connector s", "connector rec/s", "connector peak MB",
            "baseline s", "baseline rec/s", "baseline peak MB", "ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        c, b = row["connector"], row["baseline"]
        c_rate, b_rate = c["records"] / c["seconds"], b["records"] / b["seconds"]
        flag = " (!)" if row["problems"] else ""
        lines.append(f"| {row['stream']}{flag} | {c['records']:,} | {c['seconds']:.2f} | {c_rate:,.0f} | "
                     f"{c['peak_mb']:.0f} | {b['seconds']:.2f} | {b_rate:,.0f} | {b['peak_mb']:.0f} | "
                     f"{c_rate / b_rate:.2f} |")
    return "\n".join(lines)


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{platform.machine()} {model}, nproc {cpus}".replace("  ", " ")


def report(rows: list[dict], args, build_s: float, startup: dict, load: tuple) -> str:
    notes = [
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. Machine: {machine()}. "
        f"Python {platform.python_version()}, airbyte-cdk {version('airbyte-cdk')}. "
        f"Load average before / after: {load[0]:.1f} / {os.getloadavg()[0]:.1f} (other work on the machine slows "
        "both sides).",
        f"Scale `{args.scale}`: emulator sizes `{json.dumps(SCALES[args.scale])}` "
        f"(dataset build {build_s:.1f} s, not timed). Config start_date {START_DATE}"
        + "".join(f"; {s} from {d}" for s, d in REFERENCE_START.get(args.scale, {}).items()) + ".",
        "Each run is a full-refresh read of one stream, stdout consumed and RECORD lines counted by the harness; "
        "seconds are wall time from process start to exit (so they include the connector's startup); "
        "peak MB is the process's max RSS. "
        f"Fastest of {args.repeat} run(s) per side, after one untimed baseline warm-up run.",
        f"Connector fixed cost (`source-contacts discover`: start, manifest, catalog): {startup['seconds']:.2f} s, "
        f"{startup['peak_mb']:.0f} MB.",
        "Emulator jobs finish after `faults.job_polls_until_done = 1` (two status polls); export files (and the v2 "
        "export's row listing) are built by the emulator once, during the warm-up, and served from a cache in the "
        "timed runs.",
        "Both sides keep Constant Contact's 4 requests/s pacing (the connector's api_budget) and the connector's "
        "export poll schedule (at once, then 0.2 s doubling); cc_contacts is bound by that pacing.",
        "ratio = connector rec/s / baseline rec/s (1.00 = as fast as the plain script; 0.50 = half its speed).",
    ]
    trouble = [f"- {row['stream']}: {p}" for row in rows for p in row["problems"]]
    return "\n".join(["# source-contacts benchmarks", "", table(rows), "",
                      *[f"- {note}" for note in notes],
                      *(["", "Problems:", *trouble] if trouble else []), ""])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--streams", default=",".join(STREAMS), help="comma-separated subset of " + ", ".join(STREAMS))
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per side; the fastest is reported")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "out" / "results.md",
                        help="where the table goes (default benchmarks/out/, not committed)")
    parser.add_argument("--update-results", action="store_true",
                        help="also replace the committed benchmarks/results.md (do it with a full run)")
    parser.add_argument("--json", type=Path, help="also write the raw measurements here")
    args = parser.parse_args()
    streams = [s.strip() for s in args.streams.split(",") if s.strip()]
    unknown = sorted(set(streams) - set(STREAMS))
    if unknown:
        parser.error(f"unknown streams {unknown}; choose from {STREAMS}")

    load = os.getloadavg()
    started = time.perf_counter()
    emu = Emulator(sizes=SCALES[args.scale])
    build_s = time.perf_counter() - started
    emu.faults.job_polls_until_done = 1
    cache_export_builds(emu)
    rows = []
    with emu, tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        connector = str(Path(sys.executable).parent / "source-contacts")
        startup = measure([connector, "discover", "--config", write_json(work / "config.json", emu.config())])
        if not startup["catalog"]:
            raise SystemExit(f"source-contacts discover failed: {startup['tail']} {startup['stderr']}")
        catalog = {stream["name"]: stream for stream in startup["catalog"]["streams"]}
        for stream in streams:
            start_date = REFERENCE_START.get(args.scale, {}).get(stream, START_DATE)
            print(f"{stream}: measuring ...", file=sys.stderr, flush=True)
            row = run_stream(emu, catalog, stream, start_date, work, args.repeat)
            row["problems"] = problems(row)
            rows.append(row)
    text = report(rows, args, build_s, startup, load)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    if args.update_results:
        COMMITTED_RESULTS.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({"scale": args.scale, "rows": rows}, indent=2))
    return 1 if any(row["problems"] for row in rows) else 0

