"""Configs, catalogs, reads and output readers shared by the unit tests (HttpMocker) and the integration tests (emulator)."""

import copy
import json
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, List, Mapping, Optional, Type

from airbyte_cdk.models import ConfiguredAirbyteCatalog, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read
from airbyte_cdk.test.mock_http import HttpMocker
from airbyte_cdk.test.state_builder import StateBuilder

from emulator import Emulator
from source_contacts import SourceContacts

V2_URL = "https://api.constantcontact.com/v2"
V3_URL = "https://api.cc.email/v3"
V3_TOKEN_URL = "https://authz.constantcontact.com/oauth2/default/v1/token"
COMETLY_URL = "https://app.cometly.com/public-api/v1"

# ---------------------------------------------------------------- configs for the real hosts (unit tests)


def v2_config(**section: Any) -> dict:
    """A v2-only config with test credentials; `section` adds or replaces keys of constant_contact_v2."""
    credentials = {"api_key": "test-v2-key", "access_token": "test-v2-token"}
    return {"start_date": "2024-01-01T00:00:00Z", "constant_contact_v2": {**credentials, **section}}


def v3_oauth_config(**section: Any) -> dict:
    """A v3-only config with OAuth credentials and no stored access token (the first call refreshes)."""
    credentials = {"auth_type": "oauth2.0", "client_id": "test-client", "client_secret": "test-secret", "refresh_token": "rt-1"}
    return {"start_date": "2024-01-01T00:00:00Z", "constant_contact": {"credentials": credentials, **section}}


def v3_access_token_config(**section: Any) -> dict:
    """A v3-only config with the fixed access token `test-v3-token`."""
    credentials = {"auth_type": "access_token", "access_token": "test-v3-token"}
    return {"start_date": "2024-01-01T00:00:00Z", "constant_contact": {"credentials": credentials, **section}}


def cometly_config(**section: Any) -> dict:
    """A Cometly-only config with the API key `test-cometly-key`."""
    return {"start_date": "2024-01-01T00:00:00Z", "cometly": {"api_key": "test-cometly-key", **section}}


# ---------------------------------------------------------------- configs for the emulator (integration tests)


def emulator_v3_config(emu: Emulator, access_token: bool = False, **section: Any) -> dict:
    """The emulator's v3 section alone: OAuth (its refresh token rotates), or a fixed access token good for several syncs."""
    config = emu.config()
    v3 = {**config["constant_contact"], **section}
    if access_token:
        v3["credentials"] = {"auth_type": "access_token", "access_token": emu.issue_access_token()}
    return {"start_date": config["start_date"], "constant_contact": v3}


def emulator_v2_config(emu: Emulator, **section: Any) -> dict:
    """The emulator's v2 section alone; `section` adds or replaces keys."""
    config = emu.config()
    return {"start_date": config["start_date"], "constant_contact_v2": {**config["constant_contact_v2"], **section}}


def emulator_cometly_config(emu: Emulator, **section: Any) -> dict:
    """The emulator's Cometly section alone (space time zone America/New_York); `section` adds or replaces keys."""
    config = emu.config()
    return {"start_date": config["start_date"], "cometly": {**config["cometly"], **section}}


# ---------------------------------------------------------------- reading


def catalog(stream: str, sync_mode: SyncMode = SyncMode.full_refresh) -> ConfiguredAirbyteCatalog:
    """A configured catalog of one stream."""
    return CatalogBuilder().with_stream(stream, sync_mode).build()


def run_read(
    config: Mapping[str, Any],
    stream: str,
    sync_mode: SyncMode = SyncMode.full_refresh,
    state: Optional[list] = None,
    expecting_exception: bool = False,
) -> EntrypointOutput:
    """`read` of one stream through the CDK's entrypoint, on a copy of `config` (the CDK writes refreshed tokens into its config)."""
    config = copy.deepcopy(config)
    configured = catalog(stream, sync_mode)
    source = SourceContacts(catalog=configured, config=config, state=state)
    return read(source, config, configured, state, expecting_exception=expecting_exception)


def second_before(stamp: str) -> str:
    """`2024-01-01T00:00:00Z` -> `2023-12-31T23:59:59Z`: a bound sent one second wide where the docs do not say whether
    it is inclusive."""
    return (datetime.fromisoformat(stamp.replace("Z", "+00:00")) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def stream_state(stream: str, state: Mapping[str, Any]) -> list:
    """The incoming state of one stream, as `run_read` takes it."""
    return StateBuilder().with_stream_state(stream, state).build()


def per_partition_state(stream: str, cursor_field: str, partitions: Mapping[str, str], key: str) -> list:
    """The incoming per-partition state of one stream: `partitions` maps each `key` value to its cursor."""
    states = [{"partition": {key: k}, "cursor": {cursor_field: v}} for k, v in partitions.items()]
    return stream_state(stream, {"states": states})


def state_for_next_read(output: EntrypointOutput) -> list:
    """The last state a read emitted, as the incoming state of the next read."""
    return [output.state_messages[-1].state]


# ---------------------------------------------------------------- reading an output


def sorted_ids(output: EntrypointOutput, key: str = "id") -> list:
    """The `key` of every record, sorted."""
    return sorted(message.record.data[key] for message in output.records)


def emitted_states(output: EntrypointOutput) -> List[dict]:
    """The stream state of every state message, in the order emitted."""
    return [message.state.stream.stream_state.__dict__ for message in output.state_messages]


def final_state(output: EntrypointOutput) -> dict:
    """The stream state of the last state message."""
    return output.most_recent_state.stream_state.__dict__


def stream_error(output: EntrypointOutput, stream: str) -> str:
    """The message of the error trace that failed `stream` (not the sync's closing summary)."""
    errors = [e.trace.error for e in output.errors]
    messages = [error.message for error in errors if error.stream_descriptor and error.stream_descriptor.name == stream]
    assert messages, f"no error trace names the stream {stream}: {[error.message for error in errors]}"
    return messages[0]


def control_configs(stdout: str) -> list:
    """The configs of the CONNECTOR_CONFIG control messages the CDK prints straight to stdout."""
    configs = []
    for line in stdout.splitlines():
        if line.startswith("{") and '"CONTROL"' in line:
            message = json.loads(line)
            configs.append(message["control"]["connectorConfig"]["config"])
    return configs


# ---------------------------------------------------------------- HTTP mocks (unit tests)


class StrictHttpMocker(HttpMocker):
    """The CDK's HttpMocker whose `with` block, like its decorator form, fails when a mocked response was not used."""

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc_val: Optional[BaseException], exc_tb: Optional[TracebackType]) -> None:
        super().__exit__(exc_type, exc_val, exc_tb)
        if exc_type is None:
            self._validate_all_matchers_called()

    def sent(self, method: str, url_prefix: str = "") -> list:
        """The requests sent with `method` to URLs starting with `url_prefix`, in order (to check what matchers cannot: absent headers)."""
        return [r for r in self._mocker.request_history if r.method == method and r.url.startswith(url_prefix)]
