"""components/common.py: slice_location, and ExportSliceRecordFilter (partition fields, cursor floor, slice named on failure)."""

from typing import Iterator

import pytest

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.common import ExportSliceRecordFilter, slice_location

# ---------------------------------------------------------------- slice_location


def test_a_window_is_named_by_its_bounds_even_with_a_partition() -> None:
    window = {"start_time": "2024-01-01T00:00:00Z", "end_time": "2024-01-30T23:59:59Z"}
    assert slice_location(StreamSlice(partition={"list_id": "1"}, cursor_slice=window)) == window


def test_a_list_partition_is_named_by_its_id() -> None:
    assert slice_location(StreamSlice(partition={"list_id": "7"}, cursor_slice={})) == {"list_id": "7"}


def test_no_slice_is_empty() -> None:
    assert slice_location(None) == {}


# ---------------------------------------------------------------- ExportSliceRecordFilter


def _filter(**kwargs: object) -> ExportSliceRecordFilter:
    return ExportSliceRecordFilter(parameters={"name": "s"}, config={}, **kwargs)


def test_partition_fields_are_copied_into_every_record() -> None:
    records = [{"email": "a@x"}, {"email": "b@x"}]
    out = list(_filter(partition_fields=["list_id"]).filter_records(records, {}, StreamSlice(partition={"list_id": "7"}, cursor_slice={})))
    assert out == [{"email": "a@x", "list_id": "7"}, {"email": "b@x", "list_id": "7"}]


def test_records_before_the_slice_start_second_are_dropped_and_undated_ones_kept() -> None:
    window = StreamSlice(partition={}, cursor_slice={"start_time": "2024-05-01T10:00:00.700Z", "end_time": "2024-06-01T00:00:00.000Z"})
    records = [
        {"id": 1, "updated_at": "2024-05-01T09:59:59.999Z"},
        {"id": 2, "updated_at": "2024-05-01T10:00:00.000Z"},
        {"id": 3, "updated_at": "2024-05-02T00:00:00.000Z"},
        {"id": 4, "updated_at": None},
    ]
    out = list(_filter(cursor_field="updated_at").filter_records(records, {}, window))
    assert [r["id"] for r in out] == [2, 3, 4]


def test_a_failure_while_reading_names_the_slice() -> None:
    def broken() -> Iterator[dict]:
        yield {"email": "a@x"}
        raise AirbyteTracedException(message="Stream s: the export file f is broken: row 2.", failure_type=FailureType.system_error)

    out = _filter(partition_fields=["list_id"]).filter_records(broken(), {}, StreamSlice(partition={"list_id": "7"}, cursor_slice={}))
    assert next(out) == {"email": "a@x", "list_id": "7"}
    with pytest.raises(AirbyteTracedException) as raised:
        next(out)
    assert raised.value.message == "Stream s: the export file f is broken: row 2. Slice: {'list_id': '7'}."
