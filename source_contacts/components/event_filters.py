"""What Cometly events a request asks for: the fields, the event names (at most 10 a request) and the attribution
settings of the config, on the list's query string or in an export's body."""

from dataclasses import dataclass, field
from typing import Any, Iterable, List, Mapping, Optional


from airbyte_cdk.sources.streams.core import StreamData
from airbyte_cdk.sources.types import Config, StreamSlice

from source_contacts.components.adaptive_windows import AdaptiveWindowRetriever
from source_contacts.components.delegating_requester import DelegatingRequester

MAX_EVENT_NAMES = 10  # per request, the API's limit
GROUP_FIELD = "event_names"  # the slice's extra field that carries one group of names


def configured_event_names(config: Config) -> List[str]:
    return list((config.get("cometly") or {}).get("event_names") or [])


@dataclass
class CometlyEventFiltersRequester(DelegatingRequester):
    """Wraps a Cometly requester: adds fields, event_names, sources, attribution_model and attribution_window.

    fields: the fields every request asks for (without `fields` the API sends only id and event_time_utc).
    touchpoint_fields: asked for too when cometly.attribution is set (the API refuses them without sources).
    inject_into: request_parameter or body_json (see DelegatingRequester).
    The event names sent are the configured ones when there are at most 10, else the group the slice carries in its
    `event_names` extra field (EventNameGroupsRetriever), else none: an export of more names filters them itself.
    """

    fields: List[str] = field(default_factory=list)
    touchpoint_fields: List[str] = field(default_factory=list)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        if not self.fields:
            raise ValueError("CometlyEventFiltersRequester needs the fields to ask for")

    def options(self, stream_slice: Optional[StreamSlice]) -> dict:
        """The event filters of one request, as JSON values."""
        attribution = (self.config.get("cometly") or {}).get("attribution")
        chosen: dict = {"fields": list(self.fields) + (list(self.touchpoint_fields) if attribution else [])}
        names = configured_event_names(self.config)
        group = stream_slice.extra_fields.get(GROUP_FIELD) if isinstance(stream_slice, StreamSlice) else None
        names = names if len(names) <= MAX_EVENT_NAMES else group
        if names:
            chosen["event_names"] = list(names)
        if attribution:
            chosen["sources"] = list(attribution["sources"])
            chosen["attribution_model"] = attribution["model"]
            chosen["attribution_window"] = int(attribution["window_days"])
        return chosen


@dataclass
class EventNameGroupsWindowRetriever(AdaptiveWindowRetriever):
    """An AdaptiveWindowRetriever that reads each window once per group of at most 10 configured event names (the
    API's limit per request); with 10 names or fewer, once as it is.

    Each group goes to `retriever` in the window's `event_names` extra field (CometlyEventFiltersRequester sends
    it). The groups of a window are read within its partition, so state moves only once all of them are read.
    """

    def read_window(self, records_schema: Mapping[str, Any], window: StreamSlice) -> Iterable[StreamData]:
        names = configured_event_names(self.config)
        if len(names) <= MAX_EVENT_NAMES:
            yield from self.retriever.read_records(records_schema, window)
            return
        for first in range(0, len(names), MAX_EVENT_NAMES):
            group = StreamSlice(
                partition=window.partition,
                cursor_slice=window.cursor_slice,
                extra_fields={**window.extra_fields, GROUP_FIELD: names[first : first + MAX_EVENT_NAMES]},
            )
            yield from self.retriever.read_records(records_schema, group)
