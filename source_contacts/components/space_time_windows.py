"""Cometly date windows sent in the space time zone, the way Cometly reads start_date and end_date."""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Optional
from zoneinfo import ZoneInfo


from airbyte_cdk.sources.types import StreamSlice

from source_contacts.components.delegating_requester import DelegatingRequester

SPACE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def to_space_time(utc_value: str, zone: ZoneInfo, window_end: bool = False) -> str:
    """'2024-03-10T07:00:00Z' -> '2024-03-10 03:00:00' in America/New_York."""
    instant = datetime.fromisoformat(utc_value.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=timezone.utc)
    local = instant.astimezone(zone)
    if window_end and local.fold:
        # A wall time the clocks repeat when they go back reads as its first occurrence, early: end the window
        # when the repeated wall times are over instead, overlapping the next window rather than leaving a gap.
        local = _after_repeated_wall_times(instant, zone)
    return local.strftime(SPACE_TIME_FORMAT)


def _after_repeated_wall_times(instant: datetime, zone: ZoneInfo) -> datetime:
    """For an instant in the second pass of wall times the clocks repeat, the first wall time after them (not
    always a whole hour: Chatham's clocks go back at 03:45)."""
    local = instant.astimezone(zone)
    earlier, later = local.replace(fold=0).utcoffset(), local.utcoffset()
    low, high = instant - (earlier - later), instant  # the clocks went back after `low`, at or before `high`
    while high - low > timedelta(seconds=1):
        middle = low + timedelta(seconds=(high - low) // timedelta(seconds=2))
        low, high = (low, middle) if middle.astimezone(zone).utcoffset() == later else (middle, high)
    return (high + (earlier - later)).astimezone(zone)


@dataclass
class CometlyWindowRequester(DelegatingRequester):
    """Wraps an HttpRequester: adds the slice's start_time/end_time as start_date/end_date in space time.

    Cometly reads `YYYY-MM-DD HH:MM:SS` in the space's time zone, which Jinja's format_datetime cannot
    convert to; the window tiling itself stays with the stream's DatetimeBasedCursor (UTC state).
    overlap_seconds: sent windows start this much earlier and end this much later than the slice, for an endpoint
      whose docs do not say whether its bounds are inclusive: adjacent windows then overlap (duplicates, never a gap).
    """

    overlap_seconds: int = 0

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        if isinstance(self.overlap_seconds, bool) or not isinstance(self.overlap_seconds, int) or self.overlap_seconds < 0:
            raise ValueError(f"overlap_seconds must be a whole number of seconds, 0 or more, not {self.overlap_seconds!r}")
        self._zone = ZoneInfo((self.config.get("cometly") or {}).get("timezone") or "UTC")
        self._overlap = timedelta(seconds=self.overlap_seconds)

    def options(self, stream_slice: Optional[StreamSlice]) -> dict[str, str]:
        """start_date/end_date of the slice in space time; empty outside a windowed slice."""
        if not stream_slice or "start_time" not in stream_slice or "end_time" not in stream_slice:
            return {}
        return {
            "start_date": to_space_time(_shift(stream_slice["start_time"], -self._overlap), self._zone),
            "end_date": to_space_time(_shift(stream_slice["end_time"], self._overlap), self._zone, window_end=True),
        }


def _shift(utc_value: str, by: timedelta) -> str:
    """A slice bound moved by `by` (no move: the value as it is)."""
    if not by:
        return utc_value
    instant = datetime.fromisoformat(utc_value.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=timezone.utc)
    return (instant + by).isoformat()
