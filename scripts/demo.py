"""Sync every stream from the bundled emulator into a local DuckDB through PyAirbyte; print rows per table, then opens
and clicks per campaign."""

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
# Few enough campaigns that every engagement report of every activity is read in a minute or two at 4 calls a second.
DEMO_SIZES = {"cc_v3_campaigns": 20}
# Opens and clicks per campaign: the tracking tables joined to the activities on campaign_activity_id.
ENGAGEMENT_SQL = """
WITH events AS (
    SELECT campaign_activity_id, 1 AS opens, 0 AS clicks FROM {opens}
    UNION ALL
    SELECT campaign_activity_id, 0, 1 FROM {clicks}
)
SELECT a.campaign_name, sum(e.opens) AS opens, sum(e.clicks) AS clicks
FROM {activities} AS a JOIN events AS e ON e.campaign_activity_id = a.campaign_activity_id
GROUP BY a.campaign_name
ORDER BY opens DESC, a.campaign_name
LIMIT 10
"""

# Read at import time by PyAirbyte: the demo is local, so no registry look-up and no telemetry.
os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("AIRBYTE_LOGGING_ROOT", str(OUTPUT / "logs"))
# PyAirbyte imports Google's cloud clients, which warn about future Python support on import.
warnings.filterwarnings("ignore", message="You are using a Python version", category=FutureWarning)
sys.path.insert(0, str(REPO))  # the emulator is a plain folder of the repo, not an installed package

import airbyte as ab  # noqa: E402
from airbyte.caches import DuckDBCache  # noqa: E402
from sqlalchemy import text  # noqa: E402

from emulator import Emulator  # noqa: E402


def main() -> int:
    if not CONNECTOR.exists():
        print(f"{CONNECTOR} is missing: run `make demo`, which installs the connector first.", file=sys.stderr)
        return 1
    OUTPUT.mkdir(exist_ok=True)
    # Each run starts a fresh emulator, so state saved by an earlier run would not match its data.
    DB_PATH.unlink(missing_ok=True)
    started = time.monotonic()
    with Emulator(sizes=DEMO_SIZES) as emu:
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
        print_engagement(cache, names)
    return 0


def print_engagement(cache: DuckDBCache, names: list) -> None:
    """The campaigns most opened, with their opens and clicks (nothing when those tables did not sync or are empty)."""
    streams = {"activities": "cc_email_campaign_activities", "opens": "cc_email_opens", "clicks": "cc_email_clicks"}
    if not set(streams.values()) <= set(names):
        return
    tables = {key: cache[stream].to_sql_table().fullname for key, stream in streams.items()}
    with cache.get_sql_engine().connect() as connection:
        rows = connection.execute(text(ENGAGEMENT_SQL.format(**tables))).fetchall()
    print("\nOpens and clicks per campaign (the 10 most opened)")
    if not rows:
        print("(no opens or clicks)")
        return
    width = max(len(str(row[0])) for row in rows)
    print(f"{'campaign':<{width}}  {'opens':>6}  {'clicks':>6}")
    for name, opens, clicks in rows:
        print(f"{name:<{width}}  {opens:>6}  {clicks:>6}")


if __name__ == "__main__":
    sys.exit(main())
