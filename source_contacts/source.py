"""The source: the manifest does the work; this class adds the config checks JSON Schema cannot say."""

import logging
from datetime import datetime
from typing import Any, Iterator, List, Mapping, MutableMapping, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airbyte_cdk.models import AirbyteCatalog, AirbyteConnectionStatus, AirbyteMessage, AirbyteStateMessage, ConfiguredAirbyteCatalog, Status
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.checks import CheckStream
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.cdk_hooks import use_contacts_component_factory

PROVIDER_SECTIONS = ("constant_contact", "constant_contact_v2", "cometly")
# The provider each of the manifest's check streams stands for, named in check failures.
CHECKED_PROVIDER = {"cc_contact_lists": "Constant Contact v3", "cc_v2_lists": "Constant Contact v2", "cometly_contacts": "Cometly"}


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


class SourceContacts(YamlDeclarativeSource):
    def __init__(
        self,
        catalog: Optional[ConfiguredAirbyteCatalog] = None,
        config: Optional[Mapping[str, Any]] = None,
        state: Optional[List[AirbyteStateMessage]] = None,
        config_path: Optional[str] = None,
    ) -> None:
        super().__init__(path_to_yaml="manifest.yaml", catalog=catalog, config=config, state=state, config_path=config_path)
        # Export jobs poll soon, then back off (the CDK's own factory waits a fixed 5 s).
        use_contacts_component_factory(self, catalog, self._source_config.get("max_concurrent_async_job_count"))

    def _configured_for(self, config: Mapping[str, Any], **kwargs: Any) -> "SourceContacts":
        """This source, or, when built without a config (as `airbyte-cdk connector test` builds it), one built with `config`."""
        return self if self._config or not config else SourceContacts(config=config, **kwargs)

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        source = self._configured_for(config)
        return super().discover(logger, config) if source is self else source.discover(logger, config)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """Reads one cheap stream per configured provider: the manifest's check streams, less absent providers."""
        source = self._configured_for(config)
        if source is not self:
            return source.check(logger, config)
        problem = describe_invalid_config(self._config)
        if problem:
            return AirbyteConnectionStatus(status=Status.FAILED, message=problem)
        available = {stream.name for stream in self.streams(self._config)}
        for name in self._source_config["check"]["stream_names"]:
            if name not in available:
                continue
            succeeded, error = CheckStream(stream_names=[name], parameters={}).check_connection(self, logger, self._config)
            if not succeeded:
                return AirbyteConnectionStatus(status=Status.FAILED, message=f"{CHECKED_PROVIDER[name]}: {error}")
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

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
        problem = describe_invalid_config(self._config)
        if problem:
            raise AirbyteTracedException(message=problem, internal_message=problem, failure_type=FailureType.config_error)
        yield from super().read(logger, config, catalog, state)
