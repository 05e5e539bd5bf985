"""run.masked: secrets masked in the free text of LOG, error TRACE and CONNECTION_STATUS messages, nothing else touched."""

from typing import Iterator

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

from source_contacts.run import masked

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
