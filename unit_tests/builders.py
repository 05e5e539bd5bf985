"""Config, catalog and run helpers shared by the unit tests (HttpMocker + entrypoint_wrapper)."""

import json
from typing import Any, Mapping, Optional

from airbyte_cdk.models import ConfiguredAirbyteCatalog, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read
from airbyte_cdk.test.state_builder import StateBuilder

from source_contacts import SourceContacts

V2_URL = "https://api.constantcontact.com/v2"
V3_URL = "https://api.cc.email/v3"
V3_TOKEN_URL = "https://authz.constantcontact.com/oauth2/default/v1/token"
COMETLY_URL = "https://app.cometly.com/public-api/v1"


def v2_config(**overrides: Any) -> dict:
    section = {"api_key": "test-v2-key", "access_token": "test-v2-token", **overrides}
    return {"start_date": "2024-01-01T00:00:00Z", "constant_contact_v2": section}


def catalog(stream: str, sync_mode: SyncMode = SyncMode.full_refresh) -> ConfiguredAirbyteCatalog:
    return CatalogBuilder().with_stream(stream, sync_mode).build()


def run_read(
    config: Mapping[str, Any],
    stream: str,
    sync_mode: SyncMode = SyncMode.full_refresh,
    state: Optional[list] = None,
    expecting_exception: bool = False,
) -> EntrypointOutput:
    configured = catalog(stream, sync_mode)
    source = SourceContacts(catalog=configured, config=config, state=state)
    return read(source, config, configured, state, expecting_exception=expecting_exception)


def per_partition_state(stream: str, cursor_field: str, partitions: Mapping[str, str], key: str) -> list:
    states = [{"partition": {key: k}, "cursor": {cursor_field: v}} for k, v in partitions.items()]
    return StateBuilder().with_stream_state(stream, {"states": states}).build()


def v3_oauth_config(**overrides: Any) -> dict:
    """v3 section with OAuth credentials and no stored access token (the first call refreshes)."""
    credentials = {"auth_type": "oauth2.0", "client_id": "test-client", "client_secret": "test-secret", "refresh_token": "rt-1"}
    return {"start_date": "2024-01-01T00:00:00Z", "constant_contact": {"credentials": credentials, **overrides}}


def v3_access_token_config(**overrides: Any) -> dict:
    credentials = {"auth_type": "access_token", "access_token": "test-v3-token"}
    return {"start_date": "2024-01-01T00:00:00Z", "constant_contact": {"credentials": credentials, **overrides}}


def cometly_config(**overrides: Any) -> dict:
    return {"start_date": "2024-01-01T00:00:00Z", "cometly": {"api_key": "test-cometly-key", **overrides}}


def control_configs(stdout: str) -> list:
    """The configs of the CONNECTOR_CONFIG control messages the CDK prints straight to stdout."""
    configs = []
    for line in stdout.splitlines():
        if line.startswith("{") and '"CONTROL"' in line:
            message = json.loads(line)
            configs.append(message["control"]["connectorConfig"]["config"])
    return configs
