"""The source: the manifest does the work; this class adds the config and state checks JSON Schema cannot say."""

import logging
import threading
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Mapping, Optional
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airbyte_cdk.models import AirbyteCatalog, AirbyteConnectionStatus, AirbyteMessage, AirbyteStateMessage, AirbyteStateType
from airbyte_cdk.models import ConfiguredAirbyteCatalog, FailureType, Status
from airbyte_cdk.sources.declarative.checks import CheckStream
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

from source_contacts.cdk_hooks import BatchedRecordCountsInLog, use_contacts_component_factory
from source_contacts.components.fast_path import RecordBatches
from source_contacts.components.http_handling import why_host_unreachable

PROVIDER_SECTIONS = ("constant_contact", "constant_contact_v2", "cometly")
# The provider each of the manifest's check streams stands for, named in check failures.
CHECKED_PROVIDER = {"cc_contact_lists": "Constant Contact v3", "cc_v2_lists": "Constant Contact v2", "cometly_contacts": "Cometly"}
# The URL settings each check stream calls, with the manifest's defaults.
CHECKED_URLS = {
    "cc_contact_lists": {"constant_contact.api_url": "https://api.cc.email/v3",
                         "constant_contact.token_url": "https://authz.constantcontact.com/oauth2/default/v1/token"},
    "cc_v2_lists": {"constant_contact_v2.api_url": "https://api.constantcontact.com/v2"},
    "cometly_contacts": {"cometly.api_url": "https://app.cometly.com/public-api/v1"},
}
# A check that has no answer by then fails naming the hosts that take no connection (the CDK retries an OAuth
# token request that cannot connect for 5 minutes; a server that accepts and never answers takes a minute a try).
CHECK_SECONDS = 40


def describe_invalid_config(config: Mapping[str, Any]) -> Optional[str]:
    """What the user must fix in `config`, or None when it is usable."""
    if not any(isinstance(config.get(section), Mapping) for section in PROVIDER_SECTIONS):
        return "Configure at least one provider section: constant_contact, constant_contact_v2 or cometly."
    start_date = config.get("start_date")
    if start_date is not None:
        try:
            parsed = datetime.fromisoformat(str(start_date).replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None or "T" not in str(start_date):
            return f"start_date '{start_date}' is not an RFC 3339 date-time; write it like 2024-01-01T00:00:00Z."
        if parsed > datetime.now(timezone.utc):
            return f"start_date '{start_date}' is in the future: nothing can have changed since then; set a past date-time."
    cometly = config.get("cometly")
    if isinstance(cometly, Mapping) and cometly.get("timezone") is not None:
        try:
            ZoneInfo(str(cometly["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            return (
                f"cometly.timezone '{cometly['timezone']}' is not an IANA time zone; "
                "use your Cometly space's time zone, such as UTC or America/New_York."
            )
    return None


def describe_spec_violation(config: Mapping[str, Any], spec: Mapping[str, Any]) -> Optional[str]:
    """Which key of `config` breaks the spec (its path, like cometly.window_days) and why, or None."""
    error = next(iter(Draft7Validator(spec).iter_errors(config)), None)
    if error is None:
        return None
    while error.context:  # a oneOf (credentials): the errors of the alternative its auth_type chose, else the closest
        wrong_type = {e.schema_path[0] for e in error.context if e.validator == "const"}
        error = best_match([e for e in error.context if e.schema_path[0] not in wrong_type] or error.context)
    why = error.message.replace(repr(error.instance), "the value") if error.schema.get("airbyte_secret") else error.message
    key = ".".join(str(part) for part in error.absolute_path)
    return f"Config key {key}: {why}." if key else f"Config: {why}."


def _is_datetime(value: Any) -> bool:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def _cursor_values(state: Any, cursor_field: str) -> Iterator[Any]:
    """Every value of `cursor_field` in a stream state, whatever its shape (per partition, nested)."""
    if isinstance(state, Mapping):
        for key, value in state.items():
            if key == cursor_field:
                yield value
            else:
                yield from _cursor_values(value, cursor_field)
    elif isinstance(state, list):
        for item in state:
            yield from _cursor_values(item, cursor_field)


def describe_invalid_state(state: List[AirbyteStateMessage], cursor_fields: Mapping[str, str]) -> Optional[str]:
    """What is wrong in the incoming state (a cursor that is not a date-time), or None; `cursor_fields` maps streams to cursors."""
    for message in state:
        if not message.stream:
            continue
        name = message.stream.stream_descriptor.name
        cursor_field = cursor_fields.get(name)
        stream_state = message.stream.stream_state.__dict__ if message.stream.stream_state else {}
        for value in _cursor_values(stream_state, cursor_field) if cursor_field else ():
            if not _is_datetime(value):
                return (
                    f"The state of stream {name} has {cursor_field} {value!r}, which is not an RFC 3339 date-time "
                    "(like 2024-01-01T00:00:00Z). Correct it in the state, or clear this stream's state so that it syncs from start_date again."
                )
    return None


def _stream_cursor_fields(node: Any) -> Dict[str, str]:
    """Stream name -> cursor field of every incremental stream in a resolved manifest."""
    found: Dict[str, str] = {}
    if isinstance(node, Mapping):
        if node.get("type") == "DeclarativeStream" and (node.get("incremental_sync") or {}).get("cursor_field"):
            found[node["name"]] = node["incremental_sync"]["cursor_field"]
        else:
            for value in node.values():
                found.update(_stream_cursor_fields(value))
    elif isinstance(node, list):
        for value in node:
            found.update(_stream_cursor_fields(value))
    return found


def _config_error(message: str) -> AirbyteTracedException:
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error)


class SourceContacts(YamlDeclarativeSource):
    def __init__(
        self,
        catalog: Optional[ConfiguredAirbyteCatalog] = None,
        config: Optional[Mapping[str, Any]] = None,
        state: Optional[List[AirbyteStateMessage]] = None,
        config_path: Optional[str] = None,
    ) -> None:
        super().__init__(path_to_yaml="manifest.yaml", catalog=catalog, config=config, state=state, config_path=config_path)
        # Export jobs poll soon, then back off (the CDK's own factory waits a fixed 5 s); the streams that declare
        # records_per_batch hand their records to the main thread in batches, unpacked by read().
        self._record_batches = RecordBatches()
        use_contacts_component_factory(self, catalog, self._source_config.get("max_concurrent_async_job_count"), self._record_batches)

    def _configured_for(self, config: Mapping[str, Any], **kwargs: Any) -> "SourceContacts":
        """This source, or, when built without a config (as `airbyte-cdk connector test` builds it), one built with `config`."""
        return self if self._config or not config else SourceContacts(config=config, **kwargs)

    @classmethod
    def read_state(cls, state_path: str) -> List[AirbyteStateMessage]:
        """The state file's STREAM state messages; any other file is a config error saying what to pass instead."""
        expected = (
            "Pass the `state` objects of the STATE messages a sync printed, as a JSON list, or no state to sync from start_date."
        )
        try:
            messages = super().read_state(state_path)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise _config_error(f"The state file {state_path} is not a JSON list of Airbyte state messages ({error}). {expected}") from None
        for message in messages:
            if message.type != AirbyteStateType.STREAM:
                raise _config_error(
                    f"The state file {state_path} holds a {message.type.name} state message; this connector reads and writes "
                    f"per-stream (STREAM) states only. {expected}"
                )
        return messages

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        source = self._configured_for(config)
        if source is not self:
            return source.discover(logger, config)
        problem = describe_invalid_config(self._config)
        if problem:
            raise _config_error(problem)
        return super().discover(logger, config)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """Reads one cheap stream per configured provider: the manifest's check streams, less absent providers."""
        source = self._configured_for(config)
        if source is not self:
            return source.check(logger, config)
        problem = describe_invalid_config(self._config)
        if problem:
            return AirbyteConnectionStatus(status=Status.FAILED, message=problem)
        streams = {stream.name: stream for stream in self.streams(self._config)}
        for name in self._source_config["check"]["stream_names"]:
            if name not in streams:
                continue
            problem = self._check_stream(name, logger)
            if not problem and name == "cc_contact_lists":
                problem = self._describe_unknown_export_lists(streams[name])
            if problem:
                return AirbyteConnectionStatus(status=Status.FAILED, message=f"{CHECKED_PROVIDER[name]}: {problem}")
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def _check_stream(self, name: str, logger: logging.Logger) -> Optional[str]:
        """What is wrong according to the manifest's CheckStream on `name`, given CHECK_SECONDS; None when it succeeds."""
        outcome: List[Any] = []
        check = CheckStream(stream_names=[name], parameters={})
        worker = threading.Thread(target=lambda: outcome.append(check.check_connection(self, logger, self._config)), daemon=True)
        worker.start()
        worker.join(CHECK_SECONDS)
        if outcome:
            succeeded, error = outcome[0]
            return None if succeeded else str(error)
        urls = {key: self._setting(key) or default for key, default in CHECKED_URLS[name].items()}
        if self._setting("constant_contact.credentials", {}).get("auth_type") != "oauth2.0":
            urls.pop("constant_contact.token_url", None)
        hosts = {key: urlsplit(url).netloc.rsplit("@", 1)[-1] for key, url in urls.items()}
        unreachable = [f"could not reach {hosts[key]} ({why}), the host of {key}" for key, url in urls.items() for why in [why_host_unreachable(url)] if why]
        if unreachable:
            return f"no answer in {CHECK_SECONDS} s: {'; '.join(unreachable)}. Check that setting and that this network can reach the host."
        return f"no answer in {CHECK_SECONDS} s from {', '.join(sorted(set(hosts.values())))}, which take connections but do not answer; try again later."

    def _setting(self, key: str, default: Any = None) -> Any:
        section, name = key.split(".")
        return (self._config.get(section) or {}).get(name, default)

    def _describe_unknown_export_lists(self, contact_lists: Any) -> Optional[str]:
        """Which of constant_contact.export_list_ids the account has no list for (the export job would fail on them)."""
        wanted = self._config["constant_contact"].get("export_list_ids") or []
        if not wanted:
            return None
        known = {record.data["list_id"] for partition in contact_lists.generate_partitions() for record in partition.read()}
        unknown = [list_id for list_id in wanted if list_id not in known]
        if not unknown:
            return None
        return f"constant_contact.export_list_ids names lists this account does not have: {', '.join(unknown)}. Remove them or correct them."

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: Optional[List[AirbyteStateMessage]] = None,
    ) -> Iterator[AirbyteMessage]:
        source = self._configured_for(config, catalog=catalog, state=state)
        if source is not self:
            yield from source.read(logger, config, catalog, state)
            return
        problem = describe_invalid_config(self._config) or describe_invalid_state(state or [], _stream_cursor_fields(self.resolved_manifest["streams"]))
        if problem:
            raise _config_error(problem)
        counts = BatchedRecordCountsInLog(self._record_batches)
        self.logger.addFilter(counts)  # the source's logger is the one the CDK's read loop logs with
        try:
            yield from self._record_batches.unpacked(super().read(logger, config, catalog, state))
        finally:
            self.logger.removeFilter(counts)
