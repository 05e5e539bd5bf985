"""slice_location: the cursor window when there is one, else the partition."""

from airbyte_cdk.sources.types import StreamSlice

from source_contacts.components.common import slice_location


def test_a_window_is_named_by_its_bounds_even_with_a_partition() -> None:
    window = {"start_time": "2024-01-01T00:00:00Z", "end_time": "2024-01-30T23:59:59Z"}
    assert slice_location(StreamSlice(partition={"list_id": "1"}, cursor_slice=window)) == window


def test_a_list_partition_is_named_by_its_id() -> None:
    assert slice_location(StreamSlice(partition={"list_id": "7"}, cursor_slice={})) == {"list_id": "7"}


def test_no_slice_is_empty() -> None:
    assert slice_location(None) == {}
