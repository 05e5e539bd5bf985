"""The source: the manifest does the work; this class adds the config and state checks JSON Schema cannot say."""

import logging
import pickle
import threading
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airbyte_cdk.models import AirbyteCatalog, AirbyteConnectionStatus, AirbyteMessage, AirbyteStateMessage, AirbyteStateType
from airbyte_cdk.models import AirbyteLogMessage, AirbyteStreamStatus, ConfiguredAirbyteCatalog, FailureType, Level, Status, Type
from airbyte_cdk.sources.declarative.checks import CheckStream
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.sources.streams.concurrent.state_converters.datetime_stream_state_converter import DateTimeStreamStateConverter
from airbyte_cdk.utils.airbyte_secrets_utils import get_secret_paths
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

from source_contacts.components.declared_options import undeclared_options
from source_contacts.components.guarded_credentials import SYNC_CALLS
from source_contacts.components.unreachable_hosts import why_host_unreachable
from source_contacts.future_stamps import FutureStamps

PROVIDER_SECTIONS = ("constant_contact", "constant_contact_v2", "cometly")
# The provider each of the manifest's check streams stands for, named in check failures.
CHECKED_PROVIDER = {"cc_contact_lists": "Constant Contact v3", "cc_v2_lists": "Constant Contact v2", "cometly_contacts": "Cometly"}
# The URL settings each check stream calls (their defaults are the spec's).
CHECKED_URLS = {
    "cc_contact_lists": ["constant_contact.api_url", "constant_contact.token_url"],
    "cc_v2_lists": ["constant_contact_v2.api_url"],
    "cometly_contacts": ["cometly.api_url"],
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


def describe_padded_secrets(config: Mapping[str, Any], spec: Mapping[str, Any]) -> Optional[str]:
    """Which secret of `config` has whitespace around it (a pasted newline would go out in a header, and fail there)."""
    for path in get_secret_paths(spec.get("properties", {})):
        value: Any = config
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, str) and value != value.strip():
            return f"Config key {'.'.join(path)} has whitespace (a space or a line break) around its value: remove it."
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
            if datetime.fromisoformat(str(value).replace("Z", "+00:00")) > datetime.now(timezone.utc):
                return (
                    f"The state of stream {name} has {cursor_field} {value!r}, which is later than now: a sync from it would "
                    "read nothing. Set it to a past date-time, or clear this stream's state so that it syncs from start_date again."
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


@lru_cache(maxsize=1)
def _manifest_bytes() -> bytes:
    """The manifest, parsed once per process (a source is built for each check, discover and read)."""
    return pickle.dumps(yaml.safe_load((Path(__file__).parent / "manifest.yaml").read_text()))


def _config_error(message: str) -> AirbyteTracedException:
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error)


class SourceContacts(ConcurrentDeclarativeSource):
    def __init__(
        self,
        catalog: Optional[ConfiguredAirbyteCatalog] = None,
        config: Optional[Mapping[str, Any]] = None,
        state: Optional[List[AirbyteStateMessage]] = None,
        config_path: Optional[str] = None,
    ) -> None:
        # A fresh copy each time: the CDK changes the manifest it is given.
        manifest = pickle.loads(_manifest_bytes())
        super().__init__(catalog=catalog, config=config or {}, state=state or [], source_config=manifest, config_path=config_path)
        self._built_with_config = bool(config)
        problems = undeclared_options(self.resolved_manifest)
        if problems:
            message = "The connector's manifest declares options its components do not have: " + "; ".join(problems)
            raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)

    def _configured_for(self, config: Mapping[str, Any], **kwargs: Any) -> "SourceContacts":
        """This source, or, when built without a config (as `airbyte-cdk connector test` builds it), one built with `config`."""
        return self if self._built_with_config or not config else SourceContacts(config=config, **kwargs)

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
        problem = describe_invalid_config(config) or describe_padded_secrets(config, self._spec())
        if problem:
            raise _config_error(problem)
        return super().discover(logger, config)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """Reads one cheap stream per configured provider: the manifest's check streams, less absent providers."""
        source = self._configured_for(config)
        if source is not self:
            return source.check(logger, config)
        problem = describe_invalid_config(config) or describe_padded_secrets(config, self._spec())
        if problem:
            return AirbyteConnectionStatus(status=Status.FAILED, message=problem)
        SYNC_CALLS.start()  # what an earlier read in this process learned of the quota is not this check's
        streams = {stream.name: stream for stream in self.streams(config)}
        for name in self.resolved_manifest["check"]["stream_names"]:
            if name not in streams:
                continue
            problem = self._check_stream(name, logger, config)
            if not problem and name == "cc_contact_lists":
                problem = self._describe_unknown_export_lists(streams[name], config)
            if problem:
                return AirbyteConnectionStatus(status=Status.FAILED, message=f"{CHECKED_PROVIDER[name]}: {problem}")
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    def _check_stream(self, name: str, logger: logging.Logger, config: Mapping[str, Any]) -> Optional[str]:
        """What is wrong according to the manifest's CheckStream on `name`, given CHECK_SECONDS; None when it succeeds."""
        outcome: List[Any] = []
        check = CheckStream(stream_names=[name], parameters={})
        worker = threading.Thread(target=lambda: outcome.append(check.check_connection(self, logger, config)), daemon=True)
        worker.start()
        worker.join(CHECK_SECONDS)
        if outcome:
            succeeded, error = outcome[0]
            return None if succeeded else str(error)
        urls = {key: self._setting(config, key) or self._spec_default(key) for key in CHECKED_URLS[name]}
        if self._setting(config, "constant_contact.credentials", {}).get("auth_type") != "oauth2.0":
            urls.pop("constant_contact.token_url", None)
        hosts = {key: urlsplit(url).netloc.rsplit("@", 1)[-1] for key, url in urls.items()}
        unreachable = [f"could not reach {hosts[key]} ({why}), the host of {key}" for key, url in urls.items() for why in [why_host_unreachable(url)] if why]
        if unreachable:
            return f"no answer in {CHECK_SECONDS} s: {'; '.join(unreachable)}. Check that setting and that this network can reach the host."
        return f"no answer in {CHECK_SECONDS} s from {', '.join(sorted(set(hosts.values())))}, which take connections but do not answer; try again later."

    @staticmethod
    def _setting(config: Mapping[str, Any], key: str, default: Any = None) -> Any:
        section, name = key.split(".")
        return (config.get(section) or {}).get(name, default)

    def _spec(self) -> Mapping[str, Any]:
        return self.resolved_manifest["spec"]["connection_specification"]

    def _spec_default(self, key: str) -> Any:
        section, name = key.split(".")
        return self._spec()["properties"][section]["properties"][name].get("default")

    @staticmethod
    def _describe_unknown_export_lists(contact_lists: Any, config: Mapping[str, Any]) -> Optional[str]:
        """Which of constant_contact.export_list_ids the account has no list for (the export job would fail on them)."""
        wanted = config["constant_contact"].get("export_list_ids") or []
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
        problem = describe_invalid_config(config) or describe_padded_secrets(config, self._spec()) or describe_invalid_state(state or [], _stream_cursor_fields(self.resolved_manifest["streams"]))
        if problem:
            raise _config_error(problem)
        SYNC_CALLS.start()
        sync_start = DateTimeStreamStateConverter.get_end_provider()().strftime("%Y-%m-%dT%H:%M:%S")
        future = FutureStamps(_stream_cursor_fields(self.resolved_manifest["streams"]), sync_start)
        for message in super().read(logger, config, catalog, state):
            yield from future.checked(message)
            status = message.trace.stream_status if message.type == Type.TRACE and message.trace else None
            if status and status.status in (AirbyteStreamStatus.COMPLETE, AirbyteStreamStatus.INCOMPLETE):
                summary = SYNC_CALLS.summary(status.stream_descriptor.name)
                if summary:
                    yield AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=Level.INFO, message=summary))
