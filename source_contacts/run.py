"""Console entry point: builds the source with the config, catalog and state the CLI names."""

import sys

from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets

from source_contacts.source import SourceContacts

# The CDK masks secrets in logs but emits a failed stream's error trace unmasked (its internal_message
# holds the request URL, and v2 sends api_key in the query). Records and CONTROL (the rotated refresh
# token must reach the platform) pass through untouched.
_MASKED_TYPES = ('{"type":"TRACE"', '{"type":"LOG"')


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


def run() -> None:
    """The CDK's `launch`, with secrets masked in every TRACE and LOG line."""
    args = sys.argv[1:]
    entrypoint = AirbyteEntrypoint(_build_source(args))
    with PRINT_BUFFER:
        for message in entrypoint.run(entrypoint.parse_args(args)):
            if message.startswith(_MASKED_TYPES):
                message = filter_secrets(message)
            print(f"{message}\n", end="")
