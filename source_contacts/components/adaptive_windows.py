"""Date windows that fit the data: a list endpoint read in windows that grow while sparse and shrink when dense.

The stream's DatetimeBasedCursor cuts the range in days (its `step`); AdaptiveWindowRetriever reads a run of days as
one window through the retriever it wraps, so an API that allows few calls a minute spends them on records, not on
empty days. Each day stays a partition of the CDK's cursor, so state still moves day by day as partitions close.
"""

import threading
from dataclasses import InitVar, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, List, Mapping, Optional, Tuple

from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.declarative.retrievers.retriever import Retriever
from airbyte_cdk.sources.streams.concurrent.state_converters.datetime_stream_state_converter import (
    DateTimeStreamStateConverter,
)
from airbyte_cdk.sources.streams.concurrent.cursor import Cursor
from airbyte_cdk.sources.streams.core import StreamData
from airbyte_cdk.sources.types import Config, Record, StreamSlice

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_SECOND = timedelta(seconds=1)


def _parse(value: str) -> datetime:
    return datetime.strptime(value, _FORMAT).replace(tzinfo=timezone.utc)


def _format(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime(_FORMAT)


@dataclass
class AdaptiveWindowRetriever(Retriever):
    """Reads the day partitions of the stream's cursor in windows of several days, each sized from what the last
    window held.

    The first window is `first_window_days` long; after each, the next aims at `records_per_window` records at the
    density just read, growing at most GROWTH times at once, between one day and `longest_window_days`. A day
    partition that starts a new window reads it through `retriever` (start_time/end_time of the slice span the
    window); a day inside a window already read, or being read, makes no call. Windows are runs of whole days that
    never overlap: a window stops before a later one already planned, and at the end of the cursor's range (now).
    Every record is handed on with the partition that read it, so state never passes the records emitted: a day
    closes only after, or with nothing of its own. The cursor must be a DatetimeBasedCursor with step P1D and
    cursor_granularity PT1S, without partition router.
    """

    retriever: Retriever
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    first_window_days: str = "30"
    longest_window_days: int = 365
    records_per_window: int = 50000
    name: str = ""
    cursor: Optional[Cursor] = None
    windows: List[Tuple[datetime, datetime]] = field(init=False, default_factory=list)

    GROWTH = 4
    LONGEST_WAIT_SECONDS = 1800

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        first = int(InterpolatedString.create(str(self.first_window_days), parameters=parameters).eval(self.config))
        if not 1 <= first or not 1 <= self.longest_window_days or self.records_per_window < 1:
            raise ValueError(
                f"AdaptiveWindowRetriever of stream {self.name}: first_window_days ({first}), longest_window_days "
                f"({self.longest_window_days}) and records_per_window ({self.records_per_window}) must be positive"
            )
        self._next_days = min(first, self.longest_window_days)
        self._turn = threading.Condition()
        self._frontier: Optional[datetime] = None  # where the next window starts
        self._reading = False  # a window is being read: the next one waits for its size
        self._failed = False  # a window failed: no other is read, they would fail the same way

    def read_records(self, records_schema: Mapping[str, Any], stream_slice: Optional[StreamSlice] = None) -> Iterable[StreamData]:
        window = self._plan(stream_slice) if stream_slice is not None else None
        if window is None:
            return  # a day of a window read by another partition
        records: Optional[int] = None
        try:
            count = 0
            for item in self.read_window(records_schema, window):
                if isinstance(item, Record):
                    count += 1
                    item = Record(data=item.data, stream_name=item.stream_name, associated_slice=stream_slice)
                yield item
            records = count
        finally:
            self._window_read(window, records)

    def read_window(self, records_schema: Mapping[str, Any], window: StreamSlice) -> Iterable[StreamData]:
        """The records of one window, through `retriever`."""
        yield from self.retriever.read_records(records_schema, window)

    def _plan(self, day: StreamSlice) -> Optional[StreamSlice]:
        """The window `day` starts, once the window before it has been read; None when a planned window holds it.

        Windows are planned in order from the first day the cursor cut: a later day waits until a window holds it."""
        start = _parse(day.cursor_slice["start_time"])
        waited = 0.0
        with self._turn:
            if self._failed:
                return None  # the stream ends with the window that failed; its state stays before it
            if self._frontier is None:
                first = next(iter(self.cursor.stream_slices()), None) if self.cursor is not None else None
                self._frontier = _parse(first.cursor_slice["start_time"]) if first is not None else start
            while True:
                if any(low <= start <= high for low, high in self.windows):
                    return None
                if start == self._frontier and not self._reading:
                    break
                if self._failed:
                    return None
                if waited >= self.LONGEST_WAIT_SECONDS:
                    raise RuntimeError(f"Stream {self.name}: the window before {day.cursor_slice['start_time']} was not read in {waited:.0f} s")
                self._turn.wait(timeout=1.0)
                waited += 1.0
            end = start + timedelta(days=self._next_days) - _SECOND
            end = max(min(end, DateTimeStreamStateConverter.get_end_provider()()), _parse(day.cursor_slice["end_time"]))
            self.windows.append((start, end))
            self._frontier, self._reading = end + _SECOND, True
        return StreamSlice(
            partition=day.partition,
            cursor_slice={"start_time": _format(start), "end_time": _format(end)},
            extra_fields=day.extra_fields,
        )

    def _window_read(self, window: StreamSlice, records: Optional[int]) -> None:
        """Sizes the next window from the one just read (`records` None: it failed, the size stays), and lets it start."""
        days = max(1, round((_parse(window["end_time"]) - _parse(window["start_time"]) + _SECOND) / timedelta(days=1)))
        with self._turn:
            if records is not None:
                self._next_days = self.next_length(days, records)
            self._failed = self._failed or records is None
            self._reading = False
            self._turn.notify_all()

    def next_length(self, days: int, records: int) -> int:
        """The days of the window after one of `days` days that held `records`."""
        wanted = self.GROWTH * days if records == 0 else round(days * self.records_per_window / records)
        return max(1, min(wanted, self.GROWTH * days, self.longest_window_days))
