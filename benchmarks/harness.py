"""Records/s and peak memory of the connector against a plain-Python baseline, per stream, and the first-sync
scenario under Cometly's limits (`python -m benchmarks`).

For each provider, starts the bundled emulator with that provider's data at the chosen scale, then for each stream
runs `source-contacts read` and `benchmarks/baseline.py` as subprocesses (each inside its own `benchmarks.measure`
process, which isolates its peak RSS), and checks that both emitted the emulator's ground-truth record count. Then
runs the first-sync scenario (benchmarks/first_sync.py). Prints the tables and writes them to
benchmarks/out/results.md (`--update-results` also replaces the committed benchmarks/results.md).
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
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path

from benchmarks import first_sync
from emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent
COMMITTED_RESULTS = ROOT / "benchmarks" / "results.md"
STREAMS = ["cometly_contacts_export", "cc_contacts_export", "cc_v2_contacts_export", "cc_contacts", "cometly_contacts"]
START_DATE = "2024-01-01T00:00:00Z"
SCALES = {
    # Emulator dataset sizes (emulator/dataset.py DEFAULT_SIZES keys); v2 export = sum of the list sizes.
    "1m": {"cometly_contacts": 1_000_000, "cc_v3_contacts": 1_000_000,
           "cc_v2_list_members": {"1": 800_000, "2": 200_000, "3": 0, "4": 4}},
    "full": {"cometly_contacts": 200_000, "cc_v3_contacts": 100_000,
             "cc_v2_list_members": {"1": 80_000, "2": 20_000, "3": 0, "4": 4}},
    "small": {"cometly_contacts": 5_000, "cc_v3_contacts": 5_000,
              "cc_v2_list_members": {"1": 4_000, "2": 1_000, "3": 0, "4": 4}},
}
# Each stream's data, at scale; the other providers of its emulator hold a token dataset.
DATASET = {"cometly_contacts_export": "cometly_contacts", "cometly_contacts": "cometly_contacts",
           "cc_contacts_export": "cc_v3_contacts", "cc_contacts": "cc_v3_contacts",
           "cc_v2_contacts_export": "cc_v2_list_members"}
TOKEN_SIZES = {"cometly_contacts": 10, "cc_v3_contacts": 10, "cc_v2_list_members": {"1": 10, "2": 0, "3": 0, "4": 4}}
# cc_contacts pages 500 records at Constant Contact's 4 requests/s (connector and baseline alike): a 2,000 rec/s
# ceiling. At larger scales it reads only the contacts updated since this date, so the reference costs ~10 s.
REFERENCE_START = {"full": {"cc_contacts": "2025-06-01T00:00:00Z"}, "1m": {"cc_contacts": "2025-09-01T00:00:00Z"}}
# First-sync scenario: contacts in the Cometly space, and how long a rate-limit "minute" lasts.
FIRST_SYNC_CONTACTS = {"small": 5_000, "full": 100_000, "1m": 100_000}
FIRST_SYNC_PERIOD = 6.0
# Cometly's limits are per minute: 15 list calls of 5,000 contacts cap the list at 75,000 contacts a minute whatever
# the code does. The throughput runs measure the code, so both sides read Cometly unpaced (the baseline does not
# pace; the connector's api_budget runs with a "minute" of this many seconds); the first-sync scenario measures the
# limits. Constant Contact's 4 requests a second are kept on both sides.
UNPACED_MINUTE_S = 0.06


def ground_truth(emu: Emulator, stream: str, start_date: str) -> int:
    """Records a full-refresh read of `stream` from `start_date` must emit, counted from the emulator's data."""
    data = emu.data
    if stream.startswith("cometly"):
        start = datetime.fromisoformat(start_date.replace("Z", "+00:00"))
        return len(data.cometly_between(start, datetime.now(timezone.utc)))
    if stream == "cc_contacts_export":
        return sum(1 for contact in data.cc_v3_contacts if contact["updated_at"] >= start_date)
    if stream == "cc_contacts":
        # Each contact updated since the start, by its 30-day window; and again by the window of its opt-out when it
        # opted out in a later window than its updated_at's (the API can leave updated_at alone).
        start, window, opted_out = datetime.fromisoformat(start_date.replace("Z", "+00:00")), timedelta(days=30), 0
        for contact in data.cc_v3_contacts:
            opt_out = contact["email_address"].get("opt_out_date")
            if opt_out and opt_out >= start_date:
                opt_out_window = start + (datetime.fromisoformat(opt_out.replace("Z", "+00:00")) - start) // window * window
                opted_out += contact["updated_at"] < f"{opt_out_window:%Y-%m-%dT%H:%M:%SZ}"
        return sum(1 for contact in data.cc_v3_contacts if contact["updated_at"] >= start_date) + opted_out
    if stream == "cc_v2_contacts_export":
        return sum(len(members) for members in data.cc_v2_members.values())
    raise ValueError(f"no ground truth for {stream}")


def emulator_for(stream: str, scale: str) -> Emulator:
    """An emulator holding `stream`'s data at `scale` (the rest token-sized), whose export files are built once.

    The emulator builds a job's file on first download (seconds at scale) and lists an export's rows at job creation
    and download; with reuse_export_files the untimed warm-up run pays for both."""
    key = DATASET[stream]
    emu = Emulator(sizes={**TOKEN_SIZES, key: SCALES[scale][key]}, reuse_export_files=True)
    emu.faults.job_polls_until_done = 1
    return emu


def measure(command: list[str], cwd: Path = ROOT) -> dict:
    """Run `command` inside a fresh benchmarks.measure process (in `cwd`, first on PYTHONPATH: a scaled copy of the
    connector's package there is the one that runs); its JSON report."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), str(ROOT)])}
    wrapper = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "measure.py"), "--", *command],
                             cwd=cwd, capture_output=True, text=True, check=True, env=env)
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
    cwd = ROOT
    if stream.startswith("cometly_"):  # read unpaced: a copy of the package with the budget on a 60 ms "minute"
        (work / "unpaced").mkdir(exist_ok=True)
        cwd = first_sync.scaled_manifest(work / "unpaced", UNPACED_MINUTE_S)

    def config() -> str:  # fresh each run: the v3 refresh token is single use
        return write_json(work / f"{stream}.config.json", {**emu.config(), "start_date": start_date})

    def baseline() -> list[str]:
        return [sys.executable, "-m", "benchmarks.baseline", "--config", config(), "--stream", stream]

    measure(baseline())
    runs = {"connector": [], "baseline": []}
    for _ in range(repeat):
        runs["connector"].append(measure([connector, "read", "--config", config(), "--catalog", catalog_path], cwd))
        runs["baseline"].append(measure(baseline()))
    row = {"stream": stream, "start_date": start_date, "expected": ground_truth(emu, stream, start_date)}
    for side, results in runs.items():
        row[side] = min(results, key=lambda result: result["seconds"])
    return row


def problems(row: dict) -> list[str]:
    """What makes a row untrustworthy: a failed run, a wrong record count, different record fields."""
    found = []
    for side in ("connector", "baseline") if "baseline" in row else ("connector",):
        result = row[side]
        if result["returncode"] != 0:
            found.append(f"{side} exited {result['returncode']}: {result['tail'][-1:]} {result['stderr'][-500:]}")
        if result["records"] != row["expected"]:
            found.append(f"{side} emitted {result['records']} records, the emulator holds {row['expected']}")
    if "baseline" in row and set(row["connector"]["fields"]) != set(row["baseline"]["fields"]):
        found.append(f"fields differ: connector {row['connector']['fields']}, baseline {row['baseline']['fields']}")
    return found


def summary(row: dict) -> dict:
    """The row's headline numbers, as --json writes them."""
    c = row["connector"]
    out = {"stream": row["stream"], "records": c["records"], "connector_rps": c["records"] / c["seconds"],
           "baseline_rps": None, "ratio": None, "connector_peak_mb": c["peak_mb"]}
    if "baseline" in row:
        out["baseline_rps"] = row["baseline"]["records"] / row["baseline"]["seconds"]
        out["ratio"] = out["connector_rps"] / out["baseline_rps"]
    else:
        out.update(scenario=row["scenario"], wall_s=c["last_record_s"], calls=row["calls"], rate_limited=row["rate_limited"])
    return out


def table(rows: list[dict]) -> str:
    head = ["stream", "records", "connector s", "connector rec/s", "connector peak MB",
            "baseline s", "baseline rec/s", "baseline peak MB", "ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        if "baseline" not in row:
            continue
        c, b = row["connector"], row["baseline"]
        c_rate, b_rate = c["records"] / c["seconds"], b["records"] / b["seconds"]
        flag = " (!)" if row["problems"] else ""
        lines.append(f"| {row['stream']}{flag} | {c['records']:,} | {c['seconds']:.2f} | {c_rate:,.0f} | "
                     f"{c['peak_mb']:.0f} | {b['seconds']:.2f} | {b_rate:,.0f} | {b['peak_mb']:.0f} | "
                     f"{c_rate / b_rate:.2f} |")
    return "\n".join(lines)


def first_sync_table(rows: list[dict]) -> str:
    head = ["stream", "records", "wall s to last record", "list calls", "export jobs", "status polls", "downloads",
            "429s", "connector peak MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        if "baseline" in row:
            continue
        c, calls = row["connector"], row["calls"]
        flag = " (!)" if row["problems"] else ""
        wall = f"{c['last_record_s']:.1f}" if c["last_record_s"] is not None else "-"
        lines.append(f"| {row['stream']}{flag} | {c['records']:,} | {wall} | {calls['list']} | {calls['create']} | "
                     f"{calls['poll']} | {calls['download']} | {sum(row['rate_limited'].values())} | {c['peak_mb']:.0f} |")
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
    scenario = [row for row in rows if "baseline" not in row]
    notes = [
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. Machine: {machine()}. "
        f"Python {platform.python_version()}, airbyte-cdk {version('airbyte-cdk')}. "
        f"Load average before / after: {load[0]:.1f} / {os.getloadavg()[0]:.1f} (other work on the machine slows "
        "both sides).",
        f"`python -m benchmarks {' '.join(sys.argv[1:])}`. Scale `{args.scale}`: emulator sizes "
        f"`{json.dumps(SCALES[args.scale])}`, each provider's in its own emulator "
        f"(dataset builds {build_s:.1f} s, not timed). Config start_date {START_DATE}"
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
        "export poll schedule (at once, then 0.2 s doubling); cc_contacts is bound by that pacing. Both read Cometly "
        "unpaced (the connector's api_budget with a \"minute\" of "
        f"{UNPACED_MINUTE_S:g} s): its per-minute limits would bind the list whatever the code does; the first-sync "
        "scenario below measures them.",
        "ratio = connector rec/s / baseline rec/s (1.00 = as fast as the plain script; 0.50 = half its speed).",
    ]
    first = ["## First sync under Cometly's limits", "", first_sync_table(rows), "",
             f"- A Cometly space with {FIRST_SYNC_CONTACTS[args.scale]:,} contacts created over the last "
             f"{first_sync.YEARS} years, each stream read in full refresh from the first contact's day with the "
             "default windows (cometly_contacts starts at window_days 30 and adapts; the export cuts "
             "export_window_days 365).",
             f"- Limits per space: list 15, create export 5, get export 30 a \"minute\" of {args.first_sync_period:g} s "
             f"(a clock {60 / args.first_sync_period:g}x faster than real), enforced by the emulator (429 with "
             "Retry-After) and by the connector's api_budget scaled the same way; export jobs take "
             f"{first_sync.JOB_SECONDS:g} s (unscaled).",
             "- Calls are answered calls per endpoint; 429s are the calls refused by a limit. Wall s runs from the "
             "connector's start to its last record, startup included."] if scenario else []
    trouble = [f"- {row['stream']}: {p}" for row in rows for p in row["problems"]]
    return "\n".join(["# source-contacts benchmarks", "", table(rows), "",
                      *[f"- {note}" for note in notes], "", *first,
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
    parser.add_argument("--json", type=Path, help="also write each row's numbers here (and the raw measurements)")
    parser.add_argument("--first-sync", choices=["on", "off"], default="on",
                        help="also run the first-sync scenario under Cometly's limits (default on)")
    parser.add_argument("--first-sync-period", type=float, default=FIRST_SYNC_PERIOD,
                        help="seconds a rate-limit minute lasts in the first-sync scenario (60 = real time)")
    args = parser.parse_args()
    streams = [s.strip() for s in args.streams.split(",") if s.strip()]
    unknown = sorted(set(streams) - set(STREAMS))
    if unknown:
        parser.error(f"unknown streams {unknown}; choose from {STREAMS}")

    load = os.getloadavg()
    build_s, rows, startup = 0.0, [], None
    connector = str(Path(sys.executable).parent / "source-contacts")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        # One emulator per dataset, streams in the order asked; each is stopped before the next is built.
        for key in dict.fromkeys(DATASET[stream] for stream in streams):
            print(f"{key}: building the emulator's dataset ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            emu = emulator_for(next(s for s in streams if DATASET[s] == key), args.scale)
            build_s += time.perf_counter() - started
            with emu:
                if startup is None:
                    startup = measure([connector, "discover", "--config", write_json(work / "config.json", emu.config())])
                    if not startup["catalog"]:
                        raise SystemExit(f"source-contacts discover failed: {startup['tail']} {startup['stderr']}")
                catalog = {stream["name"]: stream for stream in startup["catalog"]["streams"]}
                for stream in [s for s in streams if DATASET[s] == key]:
                    start_date = REFERENCE_START.get(args.scale, {}).get(stream, START_DATE)
                    print(f"{stream}: measuring ...", file=sys.stderr, flush=True)
                    row = run_stream(emu, catalog, stream, start_date, work, args.repeat)
                    row["problems"] = problems(row)
                    rows.append(row)
            del emu
        if args.first_sync == "on":
            print("first sync: building the Cometly space and reading it under the limits ...", file=sys.stderr, flush=True)
            if startup is None:
                with Emulator() as emu:
                    startup = measure([connector, "discover", "--config", write_json(work / "config.json", emu.config())])
            catalog = {stream["name"]: stream for stream in startup["catalog"]["streams"]}
            for row in first_sync.run(FIRST_SYNC_CONTACTS[args.scale], args.first_sync_period, measure, connector,
                                      work, catalog):
                row["problems"] = problems(row)
                rows.append(row)
    text = report(rows, args, build_s, startup, load)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    if args.update_results:
        COMMITTED_RESULTS.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({"scale": args.scale, "rows": [{**summary(row), "problems": row["problems"],
                                                                        "raw": row} for row in rows]}, indent=2))
    return 1 if any(row["problems"] for row in rows) else 0

