"""LocalDaySlices: one slice per finished local day, DST days of 23 and 25 hours, the first joined to the state."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from airbyte_cdk.sources.types import StreamSlice

from source_contacts.components.local_days import LocalDaySlices

NEW_YORK = ZoneInfo("America/New_York")
START = datetime(2024, 11, 2, 4, 0, tzinfo=timezone.utc)  # 2024-11-02 00:00 in New York


class Windows:
    def __init__(self, *bounds: tuple) -> None:
        self._windows = [StreamSlice(partition={}, cursor_slice={"start_time": s, "end_time": e}) for s, e in bounds]

    def stream_slices(self):
        return iter(self._windows)


def slices(start: str, end: str) -> list:
    return [dict(s.cursor_slice) for s in LocalDaySlices(Windows((start, end)), NEW_YORK, START).stream_slices()]


def test_one_slice_per_finished_day_the_25_hour_day_included_and_the_unfinished_one_left() -> None:
    assert slices("2024-11-02T04:00:00Z", "2024-11-05T12:00:00Z") == [
        {"start_time": "2024-11-02T04:00:00Z", "end_time": "2024-11-03T03:59:59Z", "date": "2024-11-02"},
        {"start_time": "2024-11-03T04:00:00Z", "end_time": "2024-11-04T04:59:59Z", "date": "2024-11-03"},
        {"start_time": "2024-11-04T05:00:00Z", "end_time": "2024-11-05T04:59:59Z", "date": "2024-11-04"},
    ]


def test_a_range_from_the_state_starts_there_and_exports_the_next_day() -> None:
    # The state is an event of 2025-03-08, a day exported whole: the next job is 2025-03-09 (23 hours).
    assert slices("2025-03-09T01:30:00Z", "2025-03-10T04:00:00Z") == [
        {"start_time": "2025-03-09T01:30:00Z", "end_time": "2025-03-10T03:59:59Z", "date": "2025-03-09"},
    ]


def test_nothing_before_the_first_day_is_over() -> None:
    assert slices("2024-11-02T04:00:00Z", "2024-11-03T03:59:58Z") == []
