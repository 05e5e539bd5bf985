"""run: secrets and URL signing values masked in the free text of LOG, error TRACE and CONNECTION_STATUS messages,
nothing else touched; the log formatter masks URL signing values in every line, --debug ones included; the emit path
(record counts, lines written in batches)."""

import contextlib
import copy
import inspect
import logging
import platform
import subprocess
import sys
from collections import defaultdict
from typing import Any, DefaultDict, Iterator, List, Optional
from unittest.mock import MagicMock

import pytest

from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteControlConnectorConfigMessage,
    AirbyteControlMessage,
    AirbyteErrorTraceMessage,
    AirbyteLogMessage,
    AirbyteMessage,
    AirbyteRecordMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    AirbyteTraceMessage,
    Level,
    OrchestratorType,
    Status,
    StreamDescriptor,
    TraceType,
    Type,
)
from airbyte_cdk.utils import airbyte_secrets_utils

from source_contacts import run as run_module
from source_contacts.run import MaskingEntrypoint, MaskingLogFormatter, masked

SECRET = "s3cr3t-key"


@pytest.fixture(autouse=True)
def registered_secret() -> Iterator[None]:
    airbyte_secrets_utils.update_secrets([SECRET])
    yield
    airbyte_secrets_utils.update_secrets([])


def test_log_trace_and_connection_status_text_is_masked() -> None:
    log = masked(AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=Level.ERROR, message=f"GET /x?api_key={SECRET}", stack_trace=SECRET)))
    error = AirbyteErrorTraceMessage(message=f"m {SECRET}", internal_message=f"i {SECRET}", stack_trace=f"t {SECRET}")
    trace = masked(AirbyteMessage(type=Type.TRACE, trace=AirbyteTraceMessage(type=TraceType.ERROR, emitted_at=1.0, error=error)))
    status = masked(AirbyteMessage(type=Type.CONNECTION_STATUS, connectionStatus=AirbyteConnectionStatus(status=Status.FAILED, message=f"c {SECRET}")))

    assert (log.log.message, log.log.stack_trace) == ("GET /x?api_key=****", "****")
    assert (trace.trace.error.message, trace.trace.error.internal_message, trace.trace.error.stack_trace) == ("m ****", "i ****", "t ****")
    assert status.connectionStatus.message == "c ****"


def test_records_and_the_control_message_carrying_the_rotated_token_are_left_as_they_are() -> None:
    record = AirbyteMessage(type=Type.RECORD, record=AirbyteRecordMessage(stream="s", data={"note": SECRET}, emitted_at=1))
    control = AirbyteMessage(
        type=Type.CONTROL,
        control=AirbyteControlMessage(
            type=OrchestratorType.CONNECTOR_CONFIG, emitted_at=1.0,
            connectorConfig=AirbyteControlConnectorConfigMessage(config={"refresh_token": SECRET}),
        ),
    )

    assert masked(record).record.data == {"note": SECRET}
    assert masked(control).control.connectorConfig.config == {"refresh_token": SECRET}


# ---------------------------------------------------------------- the emit path


class Stdout:
    """Stands in for stdout: keeps each write, and marks where it was flushed."""

    def __init__(self) -> None:
        self.writes: List[str] = []

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        self.writes.append("<flush>")


def emitted(monkeypatch: pytest.MonkeyPatch, lines: List[str], fail_after: bool = False) -> List[str]:
    """The writes run() makes when the entrypoint yields `lines` (then raises, with fail_after)."""

    def entrypoint_run(self: MaskingEntrypoint, parsed_args: Any) -> Iterator[str]:
        yield from lines
        if fail_after:
            raise RuntimeError("the sync failed")

    stdout = Stdout()
    monkeypatch.setattr(run_module, "_build_source", lambda args: MagicMock())
    monkeypatch.setattr(run_module, "PRINT_BUFFER", contextlib.nullcontext())
    monkeypatch.setattr(MaskingEntrypoint, "run", entrypoint_run)
    monkeypatch.setattr(sys, "argv", ["source-contacts", "read", "--config", "c.json", "--catalog", "k.json"])
    monkeypatch.setattr(sys, "stdout", stdout)
    if fail_after:
        with pytest.raises(RuntimeError):
            run_module.run()
    else:
        run_module.run()
    return stdout.writes


def record_line(n: int) -> str:
    return f'{{"type":"RECORD","record":{{"stream":"s","data":{{"id":{n}}},"emitted_at":1}}}}'


STATE_LINE = '{"type":"STATE","state":{"type":"STREAM"}}'


def test_records_go_out_in_batches_and_any_other_line_at_once_with_the_records_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    records = [record_line(n) for n in range(run_module.RECORDS_PER_WRITE + 3)]
    lines = [records[0], STATE_LINE, *records[1:], STATE_LINE, record_line(-1)]

    writes = emitted(monkeypatch, lines)

    batch = run_module.RECORDS_PER_WRITE
    assert writes == [f"{records[0]}\n{STATE_LINE}\n", "<flush>", "".join(f"{r}\n" for r in records[1:batch + 1]), "<flush>",
                      "".join(f"{r}\n" for r in records[batch + 1:]) + f"{STATE_LINE}\n", "<flush>", f"{record_line(-1)}\n", "<flush>"]


def test_records_pending_when_the_sync_fails_are_still_written(monkeypatch: pytest.MonkeyPatch) -> None:
    written = emitted(monkeypatch, [record_line(1), record_line(2)], fail_after=True)
    assert written == [f"{record_line(1)}\n{record_line(2)}\n", "<flush>"]


def test_record_counts_on_state_messages_are_the_cdks() -> None:
    def state(stream: str) -> AirbyteMessage:
        descriptor = StreamDescriptor(name=stream)
        return AirbyteMessage(type=Type.STATE, state=AirbyteStateMessage(
            type=AirbyteStateType.STREAM, stream=AirbyteStreamState(stream_descriptor=descriptor, stream_state=AirbyteStateBlob())))

    def record(stream: str, namespace: Optional[str] = None) -> AirbyteMessage:
        return AirbyteMessage(type=Type.RECORD, record=AirbyteRecordMessage(stream=stream, namespace=namespace, data={}, emitted_at=1))

    script = [record("a"), record("b"), record("a"), state("a"), record("a"), record("a", "other"), state("b"), state("a")]

    def counts(handler: Any) -> List[float]:
        counter: DefaultDict = defaultdict(float)
        handled = [handler(copy.deepcopy(message), counter) for message in script]
        return [message.state.sourceStats.recordCount for message in handled if message.type == Type.STATE]

    ours = MaskingEntrypoint(MagicMock()).handle_record_counts
    assert counts(ours) == counts(AirbyteEntrypoint.handle_record_counts) == [2.0, 1.0, 1.0]
def test_url_signing_values_are_masked_in_every_printed_text() -> None:
    url = "https://bucket.s3.amazonaws.com/e.ndjson.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20240101%2Fus-east-1&X-Amz-Signature=abc123"
    log = masked(AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=Level.DEBUG, message=f'{{"download_url": "{url}"}}')))
    error = AirbyteErrorTraceMessage(message="failed", internal_message=f"GET {url} failed", stack_trace=f"at {url}\n")
    trace = masked(AirbyteMessage(type=Type.TRACE, trace=AirbyteTraceMessage(type=TraceType.ERROR, emitted_at=1.0, error=error)))

    masked_url = "https://bucket.s3.amazonaws.com/e.ndjson.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=****&X-Amz-Signature=****"
    assert log.log.message == f'{{"download_url": "{masked_url}"}}'
    assert (trace.trace.error.internal_message, trace.trace.error.stack_trace) == (f"GET {masked_url} failed", f"at {masked_url}\n")


def test_the_log_formatter_masks_url_signing_values_in_debug_lines() -> None:
    record = logging.LogRecord("airbyte", logging.DEBUG, __file__, 1, "Receiving response", None, None)
    record.body = '{"download_url": "https://b.example/f?X-Amz-Security-Token=tok&X-Amz-Signature=sig"}'

    line = MaskingLogFormatter().format(record)

    assert "tok" not in line and "sig\\" not in line and "X-Amz-Signature=****" in line


def mb_resident_after_freeing_two_page_bodies() -> int:
    """How much a freed 5 MB block stays resident, after a 6 MB one was freed (glibc now keeps blocks this size)."""
    def rss_mb() -> int:
        return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")) // 1024

    body = b"x" * (6 << 20)
    del body
    before = rss_mb()
    body = b"x" * (5 << 20)
    del body
    return rss_mb() - before


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc malloc tunable (the Docker image and CI are glibc)")
def test_a_freed_page_body_goes_back_to_the_system() -> None:
    # glibc's default, which the fix is for, in a process of its own
    probe = f"{inspect.getsource(mb_resident_after_freeing_two_page_bodies)}\nprint(mb_resident_after_freeing_two_page_bodies())"
    default = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert int(default.stdout) >= 4

    assert run_module.return_large_blocks_when_freed()
    assert mb_resident_after_freeing_two_page_bodies() == 0
