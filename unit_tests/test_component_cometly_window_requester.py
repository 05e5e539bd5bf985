"""CometlyWindowRequester: UTC slice bounds become space-time start_date/end_date, in the query or the body."""

from datetime import datetime, timezone
from unittest.mock import MagicMock
from zoneinfo import ZoneInfo

import pytest

from airbyte_cdk.sources.types import StreamSlice

from source_contacts.components.cometly import CometlyWindowRequester, to_space_time

WINDOW = StreamSlice(partition={}, cursor_slice={"start_time": "2024-03-10T06:59:59Z", "end_time": "2024-11-03T06:30:00Z"})


@pytest.mark.parametrize(
    "utc_value, zone, expected",
    [
        ("2024-03-10T06:59:59Z", "America/New_York", "2024-03-10 01:59:59"),  # last second of EST
        ("2024-03-10T07:00:00Z", "America/New_York", "2024-03-10 03:00:00"),  # first second of EDT
        ("2024-01-01T00:00:00Z", "UTC", "2024-01-01 00:00:00"),
        ("2024-06-30T23:30:00Z", "Asia/Kolkata", "2024-07-01 05:00:00"),
    ],
)
def test_to_space_time(utc_value: str, zone: str, expected: str) -> None:
    assert to_space_time(utc_value, ZoneInfo(zone)) == expected


@pytest.mark.parametrize(
    "utc_end, expected",
    [
        ("2024-11-03T05:30:00Z", "2024-11-03 01:30:00"),  # first 01:30 (EDT): unambiguous as read
        ("2024-11-03T06:30:00Z", "2024-11-03 02:00:00"),  # second 01:30 (EST) would read as 05:30Z: end at 02:00
        ("2024-11-03T06:59:59Z", "2024-11-03 02:00:00"),
        ("2024-11-03T07:00:00Z", "2024-11-03 02:00:00"),
    ],
)
def test_window_end_in_the_repeated_hour_is_never_read_early(utc_end: str, expected: str) -> None:
    zone = ZoneInfo("America/New_York")
    assert to_space_time(utc_end, zone, window_end=True) == expected
    # The API reads the first occurrence of a wall time: the end it reads is never before the real end.
    read_back = datetime.strptime(expected, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone).astimezone(timezone.utc)
    assert read_back >= datetime.fromisoformat(utc_end.replace("Z", "+00:00"))


def _wrapped(inject_into: str, timezone: str = "America/New_York") -> tuple:
    inner = MagicMock()
    requester = CometlyWindowRequester(requester=inner, config={"cometly": {"timezone": timezone}}, parameters={}, inject_into=inject_into)
    return requester, inner


def test_window_goes_into_the_query_next_to_the_other_parameters() -> None:
    requester, inner = _wrapped("request_parameter")

    requester.send_request(stream_slice=WINDOW, request_params={"cursor": "n1"})

    sent = inner.send_request.call_args.kwargs
    # The window ends at 06:30Z, the second 01:30 of New York's autumn change: sent as 02:00 (no gap).
    assert sent["request_params"] == {"cursor": "n1", "start_date": "2024-03-10 01:59:59", "end_date": "2024-11-03 02:00:00"}
    assert sent["request_body_json"] is None


def test_window_goes_into_the_json_body_for_post_requests() -> None:
    requester, inner = _wrapped("body_json", timezone="UTC")

    requester.send_request(stream_slice=WINDOW, request_body_json={"include_all_emails": 1})

    sent = inner.send_request.call_args.kwargs
    assert sent["request_body_json"] == {"include_all_emails": 1, "start_date": "2024-03-10 06:59:59", "end_date": "2024-11-03 06:30:00"}


def test_a_slice_without_a_window_adds_nothing() -> None:
    requester, inner = _wrapped("request_parameter")

    requester.send_request(stream_slice=StreamSlice(partition={"export_id": "e1"}, cursor_slice={}), request_params={"a": "1"})

    assert inner.send_request.call_args.kwargs["request_params"] == {"a": "1"}


def test_unknown_injection_target_is_refused() -> None:
    with pytest.raises(ValueError, match="inject_into"):
        _wrapped("header")
