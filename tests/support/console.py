"""Runs the installed console script the way Airbyte does, for tests of what reaches stdout."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, List

CONSOLE_SCRIPT = Path(sys.executable).parent / "source-contacts"


def read_via_console(
    config: dict, stream: str, folder: Path, sync_mode: str = "full_refresh", state: Any = None, *args: str
) -> subprocess.CompletedProcess:
    """`source-contacts read` of one stream (`state`: the --state file's JSON, if any; `args` such as --debug); stdout and
    stderr captured as text."""
    catalog_file = folder / "catalog.json"
    entry = {"name": stream, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]}
    catalog_file.write_text(json.dumps({"streams": [{"stream": entry, "sync_mode": sync_mode, "destination_sync_mode": "append"}]}))
    state_args = []
    if state is not None:
        state_file = folder / "state.json"
        state_file.write_text(state if isinstance(state, str) else json.dumps(state))
        state_args = ["--state", str(state_file)]
    return run_console("read", config, folder, "--catalog", str(catalog_file), *state_args, *args)


def run_console(verb: str, config: dict, folder: Path, *args: str) -> subprocess.CompletedProcess:
    """`source-contacts <verb> --config <config> <args>`; stdout and stderr captured as text."""
    config_file = folder / "config.json"
    config_file.write_text(json.dumps(config))
    return subprocess.run([str(CONSOLE_SCRIPT), verb, "--config", str(config_file), *args], capture_output=True, text=True, timeout=180)


def connection_status(stdout: str) -> dict:
    """The connectionStatus of the CONNECTION_STATUS line in a `check`'s stdout."""
    [status] = [json.loads(line)["connectionStatus"] for line in stdout.splitlines() if '"CONNECTION_STATUS"' in line]
    return status


def error_traces(stdout: str) -> List[dict]:
    """The `trace.error` objects of the ERROR trace lines in a console script's stdout."""
    return [json.loads(line)["trace"]["error"] for line in stdout.splitlines() if '"type":"ERROR"' in line]
