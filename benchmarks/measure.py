"""Runs one command, counts the RECORD lines it prints, and reports wall time and the command's peak RSS as JSON.

`python -m benchmarks.measure -- CMD ...` is started in a fresh process per measurement, so that
`getrusage(RUSAGE_CHILDREN).ru_maxrss` sees exactly one child: the measured command.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections import deque

RECORD = b'"type":"RECORD"'
CATALOG = b'"type":"CATALOG"'
FIELD_SAMPLE = 1000  # records whose field names are collected (null fields are left out, so one is not enough)


def measure(command: list[str]) -> dict:
    """Run `command`, consume its stdout line by line; records, seconds, first and last record times, peak RSS (MB), field names.

A CATALOG message (from `discover`) is returned whole, so the run that measures the connector's fixed cost also
gives the harness its catalog.
"""
    records = 0
    first_record_s = last_record_s = None
    fields: set = set()
    catalog = None  # what `discover` prints, kept whole
    tail: deque = deque(maxlen=5)  # last non-RECORD lines (a failing sync ends with its TRACE message)
    start = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if RECORD in line:
                records += 1
                last_record_s = time.perf_counter() - start
                if first_record_s is None:
                    first_record_s = last_record_s
                if records <= FIELD_SAMPLE:
                    fields.update(json.loads(line)["record"]["data"])
            elif CATALOG in line:
                catalog = json.loads(line)["catalog"]
            else:
                tail.append(line.decode("utf-8", "replace").strip()[:500])
        stderr = child.stderr.read().decode("utf-8", "replace") if child.stderr else ""
        returncode = child.wait()
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kilobytes on Linux
    return {
        "records": records,
        "seconds": seconds,
        "first_record_s": first_record_s,
        "last_record_s": last_record_s,
        "peak_mb": peak_kb / 1024,
        "fields": sorted(fields),
        "catalog": catalog,
        "returncode": returncode,
        "tail": list(tail),
        "stderr": stderr[-2000:],
    }


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m benchmarks.measure -- CMD [ARG ...]", file=sys.stderr)
        return 2
    print(json.dumps(measure(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
