"""Sync every stream from the bundled emulator into a local DuckDB through PyAirbyte; print rows per table."""

import os
import sys
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONNECTOR = REPO / ".venv" / "bin" / "source-contacts"
OUTPUT = REPO / "demo-output"
DB_PATH = OUTPUT / "contacts.duckdb"
EVENT_DAY_EXPORTS = "cometly_events_export"

# Read at import time by PyAirbyte: the demo is local, so no registry look-up and no telemetry.
os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("AIRBYTE_LOGGING_ROOT", str(OUTPUT / "logs"))
# PyAirbyte imports Google's cloud clients, which warn about future Python support on import.
warnings.filterwarnings("ignore", message="You are using a Python version", category=FutureWarning)
sys.path.insert(0, str(REPO))  # the emulator is a plain folder of the repo, not an installed package

import airbyte as ab  # noqa: E402
from airbyte.caches import DuckDBCache  # noqa: E402

from emulator import Emulator  # noqa: E402


def main() -> int:
    if not CONNECTOR.exists():
        print(f"{CONNECTOR} is missing: run `make demo`, which installs the connector first.", file=sys.stderr)
        return 1
    OUTPUT.mkdir(exist_ok=True)
    # Each run starts a fresh emulator, so state saved by an earlier run would not match its data.
    DB_PATH.unlink(missing_ok=True)
    started = time.monotonic()
    with Emulator() as emu:
        print(f"Emulator of Constant Contact v2/v3 and Cometly listening on {emu.url}")
        cache = DuckDBCache(db_path=DB_PATH, cache_dir=OUTPUT / ".cache")
        source = ab.get_source("source-contacts", config=emu.config(), local_executable=CONNECTOR)
        everything_but_day_exports = [name for name in source.get_available_streams() if name != EVENT_DAY_EXPORTS]
        source.select_streams(everything_but_day_exports)
        names = set(source.read(cache=cache).streams)
        # The events export costs one job per day at 5 a minute: the demo exports the last three days, with events added.
        emu.add_cometly_events(60, at=datetime.now(timezone.utc) - timedelta(days=1, hours=6))
        recent = {**emu.config(), "start_date": (datetime.now(timezone.utc) - timedelta(days=3)).strftime("%Y-%m-%dT00:00:00Z")}
        exports = ab.get_source("source-contacts", config=recent, local_executable=CONNECTOR, streams=[EVENT_DAY_EXPORTS])
        names = sorted(names | set(exports.read(cache=cache).streams))
        print(f"\nSynced {len(names)} streams into {DB_PATH.relative_to(REPO)} in {time.monotonic() - started:.1f} s")
        counts = {cache[name].to_sql_table().name: len(cache[name]) for name in names}
        width = max(len(table) for table in counts)
        print(f"{'table':<{width}}  rows")
        for table, rows in counts.items():
            print(f"{table:<{width}}  {rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
