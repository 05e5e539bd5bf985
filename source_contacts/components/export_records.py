"""The records of an export file: the slice's partition fields added, and those older than the slice dropped."""

from dataclasses import InitVar, dataclass, field
from typing import Any, Iterable, List, Mapping, Optional

from airbyte_cdk.sources.declarative.extractors.record_filter import RecordFilter
from airbyte_cdk.sources.types import StreamSlice, StreamState
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.messages import slice_location


@dataclass
class ExportSliceRecordFilter(RecordFilter):
    """Copies the slice's partition fields into each export record and keeps records at or after the slice start.

    partition_fields: partition keys copied into every record (v2: list_id).
    cursor_field: a fixed-width UTC RFC 3339 field compared with the slice start, at one-second granularity
      because one of the CSV date forms has no fraction; records without a value are kept (nothing is lost).
    slice_start_field: the cursor slice key holding the lower bound.
    condition: as for a RecordFilter, applied after the above (cometly_events_export: event names the API was not
      asked to filter).
    A CSV failure raised while reading gets the slice added to its message.
    """

    parameters: InitVar[Mapping[str, Any]]
    partition_fields: List[str] = field(default_factory=list)
    cursor_field: str = ""
    slice_start_field: str = "start_time"

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        self._stream = parameters.get("name", "")

    def filter_records(
        self,
        records: Iterable[Mapping[str, Any]],
        stream_state: StreamState,
        stream_slice: Optional[StreamSlice] = None,
        next_page_token: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[Mapping[str, Any]]:
        partition = stream_slice.partition if stream_slice else {}
        extra = {name: partition[name] for name in self.partition_fields}
        floor = self._floor(stream_slice)
        cursor_field = self.cursor_field
        if self.condition:
            records = super().filter_records(records, stream_state, stream_slice, next_page_token)
        try:
            for record in records:
                if floor and (record.get(cursor_field) or floor) < floor:
                    continue
                if extra:
                    record.update(extra)  # type: ignore[attr-defined]  # the CSV decoder yields fresh dicts
                yield record
        except AirbyteTracedException as error:
            message = f"{error.message} Slice: {slice_location(stream_slice)}."
            raise AirbyteTracedException(message=message, internal_message=message, failure_type=error.failure_type) from error

    def _floor(self, stream_slice: Optional[StreamSlice]) -> str:
        """The slice start truncated to the second, in the decoder's `YYYY-MM-DDTHH:MM:SS` prefix form."""
        if not self.cursor_field or not stream_slice:
            return ""
        start = stream_slice.cursor_slice.get(self.slice_start_field) or ""
        return str(start)[:19].replace(" ", "T")

