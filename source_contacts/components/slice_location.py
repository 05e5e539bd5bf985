"""Where a slice is, for error messages: the cursor window, else the partition."""

from typing import Any, Dict, Optional

from airbyte_cdk.sources.types import StreamSlice


def slice_location(stream_slice: Optional[StreamSlice]) -> Dict[str, Any]:
    """`{'start_time': ..., 'end_time': ...}` for a window, `{'list_id': ...}` for a list; {} without a slice."""
    if stream_slice is None:
        return {}
    return dict(stream_slice.cursor_slice or stream_slice.partition)
