"""Constant Contact's tracking reports have no date filter and keep changing for weeks after a send: an activity is
read again at each incremental sync until `engagement_window_days` after its last send, then it is final."""

import logging
from dataclasses import InitVar, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Optional, Union

from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.declarative.retrievers.retriever import Retriever
from airbyte_cdk.sources.streams.concurrent.state_converters.datetime_stream_state_converter import DateTimeStreamStateConverter
from airbyte_cdk.sources.streams.core import StreamData
from airbyte_cdk.sources.types import Config, StreamSlice

LOGGER = logging.getLogger("airbyte")


def _instant(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(timezone.utc)


@dataclass
class EngagementWindowRetriever(Retriever):
    """Reads an activity's report through `retriever` unless the activity is final: read before (its slice starts at
    its saved cursor, later than `first_read_start`, the cursor's start) and last sent (the slice's `last_sent_at`)
    more than `window_days` before the sync's start. A final activity costs no call, and its state stays as saved. A full refresh has
    no state, so it reads every activity."""

    retriever: Retriever
    window_days: Union[str, int]
    first_read_start: str
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    name: str = ""

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        days = InterpolatedString.create(str(self.window_days), parameters=parameters).eval(self.config)
        self._window = timedelta(days=int(days))
        self._first_read_start = _instant(self.first_read_start)
        self._final = 0

    def read_records(self, records_schema: Mapping[str, Any], stream_slice: Optional[StreamSlice] = None) -> Iterable[StreamData]:
        if stream_slice is not None and self._is_final(stream_slice):
            self._final += 1
            if self._final == 1:
                LOGGER.info(
                    f"Stream {self.name}: activities last sent more than {self._window.days} days ago "
                    "(engagement_window_days) and read before are final: their reports are not read again."
                )
            return
        yield from self.retriever.read_records(records_schema, stream_slice)

    def _is_final(self, stream_slice: StreamSlice) -> bool:
        start, last_sent = stream_slice.cursor_slice.get("start_time"), (stream_slice.extra_fields or {}).get("last_sent_at")
        if not start or not last_sent or _instant(start) <= self._first_read_start:
            return False
        # Counted to the sync's start, as the cursors' end.
        return _instant(last_sent) + self._window < DateTimeStreamStateConverter.get_end_provider()()
