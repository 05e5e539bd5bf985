"""Export slices of one calendar day each in the space time zone, for an API that exports at most a day a job."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Iterable
from zoneinfo import ZoneInfo

from airbyte_cdk.sources.streams.concurrent.partitions.stream_slicer import StreamSlicer
from airbyte_cdk.sources.types import StreamSlice

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_SECOND = timedelta(seconds=1)


def _parse(value: str) -> datetime:
    instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return instant if instant.tzinfo else instant.replace(tzinfo=timezone.utc)


def _format(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime(_FORMAT)


@dataclass
class LocalDaySlices(StreamSlicer):
    """Cuts the range of the stream's date windows into one slice per finished local day, oldest first.

    Each slice is {start_time, end_time, date}: from a local midnight to one second before the next (23 or 25 hours
    on DST days), `date` the local date to export. The first slice starts where the cursor starts, so that it joins
    the cursor's state and state then moves day by day as each day's partition closes (the CDK merges contiguous
    closed slices, whatever order they close in, and saves the newest record of the first run).
    A range that starts after the stream's `start` starts at an event of a day already exported whole (the state
    only ever holds such a time): that day is not exported again and the first slice's date is the next day. A day
    that has not ended when the sync starts (the end of the last window) is not exported: its events come with the
    next sync.
    """

    windows: StreamSlicer
    zone: ZoneInfo
    start: datetime

    def stream_slices(self) -> Iterable[StreamSlice]:
        windows = list(self.windows.stream_slices())
        if not windows:
            return
        low = min(_parse(window["start_time"]) for window in windows)
        high = max(_parse(window["end_time"]) for window in windows)
        day = low.astimezone(self.zone).date() + timedelta(days=1 if low > self.start else 0)
        slice_start = low
        while (day_end := self._midnight(day + timedelta(days=1)) - _SECOND) <= high:
            cursor_slice = {"start_time": _format(slice_start), "end_time": _format(day_end), "date": day.isoformat()}
            yield StreamSlice(partition=dict(windows[0].partition), cursor_slice=cursor_slice)
            day, slice_start = day + timedelta(days=1), day_end + _SECOND

    def _midnight(self, day: date) -> datetime:
        """The first instant of a local day (where midnight is skipped, the moment the clocks jump)."""
        return datetime(day.year, day.month, day.day, tzinfo=self.zone).astimezone(timezone.utc)
