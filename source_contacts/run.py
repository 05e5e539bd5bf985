"""Console entry point: the CDK's `launch`, with secrets masked in every message the connector prints."""

import json
import logging
import re
import sys
from typing import Any, Iterable, List, Mapping, Optional
from urllib.parse import quote, quote_plus

from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import PRINT_BUFFER, AirbyteLogFormatter
from airbyte_cdk.models import AirbyteMessage, ConnectorSpecification, FailureType, Type
from airbyte_cdk.sources.utils.schema_helpers import split_config
from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets, filter_secrets, get_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.source import SourceContacts, describe_spec_violation


# A query parameter that signs or authorizes a URL (X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, ...).
_SIGNING_VALUE = re.compile(r"(?i)([?&][\w-]*(?:signature|credential|token)[\w-]*=)[^&\s\"'\\]+")


def without_signing_values(text: str) -> str:
    """`text` with the value of every URL signing parameter replaced by ****: a presigned download URL is a credential,
    and the job status that hands it out is printed (--debug) before the connector could register it as a secret."""
    return _SIGNING_VALUE.sub(r"\1****", text)


def secret_forms(secret: str) -> List[str]:
    """The forms a secret takes in a printed line besides itself: JSON-escaped (a trailing newline printed as `\\n`),
    URL-encoded (v2's api_key in a query), and without the whitespace around it."""
    forms = {json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret), quote(secret), secret.strip()}
    return sorted((form for form in forms if form and form != secret), key=len, reverse=True)


def _filtered(text: Optional[str]) -> Optional[str]:
    return without_signing_values(filter_secrets(text)) if text else text


def masked(message: AirbyteMessage) -> AirbyteMessage:
    """`message` with every registered secret replaced by **** in its free text: what a LOG, an error TRACE or a
    CONNECTION_STATUS says. Other types carry data (records, state, schemas) or, for CONTROL, the rotated
    refresh token the platform must receive."""
    if message.type is Type.RECORD:
        return message  # most of a read: decided in one comparison
    if message.type == Type.LOG and message.log:
        message.log.message = _filtered(message.log.message)
        message.log.stack_trace = _filtered(message.log.stack_trace)
    elif message.type == Type.TRACE and message.trace and message.trace.error:
        error = message.trace.error
        error.message = _filtered(error.message)
        error.internal_message = _filtered(error.internal_message)
        error.stack_trace = _filtered(error.stack_trace)
    elif message.type == Type.CONNECTION_STATUS and message.connectionStatus:
        message.connectionStatus.message = _filtered(message.connectionStatus.message)
    return message


class MaskingLogFormatter(AirbyteLogFormatter):
    """The CDK's log formatter whose lines show no URL signing value: the lines --debug prints hold response bodies
    and URLs as they are."""

    def format(self, record: logging.LogRecord) -> str:
        return without_signing_values(super().format(record))


class MaskingEntrypoint(AirbyteEntrypoint):
    """AirbyteEntrypoint that masks each message by its type before printing it.

    The CDK masks its log lines but not a failed stream's error trace (its internal_message holds the request
    URL, and v2 sends api_key in the query) nor the CONNECTION_STATUS of a failed check.
    """

    def check(self, *args: Any) -> Iterable[AirbyteMessage]:
        return map(masked, super().check(*args))

    def discover(self, *args: Any) -> Iterable[AirbyteMessage]:
        return map(masked, super().discover(*args))

    def read(self, *args: Any) -> Iterable[AirbyteMessage]:
        return map(masked, super().read(*args))

    @staticmethod
    def set_up_secret_filter(config: Any, connection_specification: Mapping[str, Any]) -> None:
        """The CDK's secret filter, with every form of each secret (the CDK registers each as it is)."""
        AirbyteEntrypoint.set_up_secret_filter(config, connection_specification)
        for secret in get_secrets(connection_specification, config):
            if isinstance(secret, str):
                for form in secret_forms(secret):
                    add_to_secrets(form)

    @staticmethod
    def validate_connection(source_spec: ConnectorSpecification, config: Any) -> None:
        """The CDK's check of the config against the spec, whose error names the key (its path) and says why."""
        problem = describe_spec_violation(split_config(config)[0], source_spec.connectionSpecification)
        if problem:
            raise AirbyteTracedException(message=problem, internal_message=problem, failure_type=FailureType.config_error)
        AirbyteEntrypoint.validate_connection(source_spec, config)

    @staticmethod
    def airbyte_message_to_string(airbyte_message: AirbyteMessage) -> str:
        # What run() prints besides check/discover/read: the spec and the messages queued around them.
        return AirbyteEntrypoint.airbyte_message_to_string(masked(airbyte_message))


def _build_source(args: list[str]) -> SourceContacts:
    config_path = AirbyteEntrypoint.extract_config(args)
    catalog_path = AirbyteEntrypoint.extract_catalog(args)
    state_path = AirbyteEntrypoint.extract_state(args)
    return SourceContacts(
        catalog=SourceContacts.read_catalog(catalog_path) if catalog_path else None,
        config=SourceContacts.read_config(config_path) if config_path else None,
        state=SourceContacts.read_state(state_path) if state_path else None,
        config_path=config_path,
    )


RECORD_LINE = '{"type":"RECORD"'
RECORDS_PER_WRITE = 256


def run() -> None:
    """The CDK's `launch` with a MaskingEntrypoint, writing records in batches: any other line goes out at once, with
    the records before it. Each batch is flushed, so the print buffer never holds more than one (it would otherwise
    gather a tenth of a second of output, several MB at full speed). A config or state file it cannot use ends with an
    error TRACE."""
    args = sys.argv[1:]
    try:
        source = _build_source(args)
    except AirbyteTracedException as error:
        print(MaskingEntrypoint.airbyte_message_to_string(error.as_airbyte_message()))
        sys.exit(1)
    entrypoint = MaskingEntrypoint(source)
    for handler in logging.getLogger().handlers:  # the CDK's console handler, set up by the entry point
        handler.setFormatter(MaskingLogFormatter())
    with PRINT_BUFFER:
        stdout, lines = sys.stdout, []  # the print buffer, as in launch; lines without their newline

        def write_lines() -> None:
            stdout.write("\n".join(lines) + "\n")
            stdout.flush()
            lines.clear()

        try:
            for line in entrypoint.run(entrypoint.parse_args(args)):
                lines.append(line)
                if len(lines) == RECORDS_PER_WRITE or not line.startswith(RECORD_LINE):
                    write_lines()
        finally:
            if lines:
                write_lines()
