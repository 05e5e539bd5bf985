"""run: secrets and URL signing values masked in the free text of LOG, error TRACE and CONNECTION_STATUS messages,
nothing else touched; the log formatter masks URL signing values in every line, --debug ones included; the emit path
(record counts, lines written in batches)."""

import contextlib
import logging
import sys
from typing import Any, Iterator, List
from unittest.mock import MagicMock

import pytest

from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteControlConnectorConfigMessage,
    AirbyteControlMessage,
    AirbyteErrorTraceMessage,
    AirbyteLogMessage,
    AirbyteMessage,
    AirbyteRecordMessage,
    AirbyteTraceMessage,
    Level,
    OrchestratorType,
    Status,
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
