"""Runs the installed console script the way Airbyte does, for tests of what reaches stdout."""

import json
import subprocess
import sys
from pathlib import Path
from typing import List

CONSOLE_SCRIPT = Path(sys.executable).parent / "source-contacts"


def read_via_console(config: dict, stream: str, folder: Path) -> subprocess.CompletedProcess:
    """`source-contacts read` of one stream in full refresh; stdout and stderr captured as text."""
    config_file = folder / "config.json"
    config_file.write_text(json.dumps(config))
    catalog_file = folder / "catalog.json"
    entry = {"name": stream, "json_schema": {}, "supported_sync_modes": ["full_refresh"]}
    catalog_file.write_text(json.dumps({"streams": [{"stream": entry, "sync_mode": "full_refresh", "destination_sync_mode": "append"}]}))
    return subprocess.run(
        [str(CONSOLE_SCRIPT), "read", "--config", str(config_file), "--catalog", str(catalog_file)],
        capture_output=True, text=True, timeout=180,
    )


def error_traces(stdout: str) -> List[dict]:
    """The `trace.error` objects of the ERROR trace lines in a console script's stdout."""
    return [json.loads(line)["trace"]["error"] for line in stdout.splitlines() if '"type":"ERROR"' in line]
