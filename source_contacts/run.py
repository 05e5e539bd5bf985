"""Console entry point: builds the source with the config, catalog and state the CLI names."""

import sys

from airbyte_cdk.entrypoint import AirbyteEntrypoint, launch

from source_contacts.source import SourceContacts


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
    args = sys.argv[1:]
    launch(_build_source(args), args)
