"""What an error message may show of where it happened: a slice's window or list, a URL without its query."""

from typing import Any, Dict, Optional
from urllib.parse import urlsplit

from airbyte_cdk.sources.types import StreamSlice


def slice_location(stream_slice: Optional[StreamSlice]) -> Dict[str, Any]:
    """`{'start_time': ..., 'end_time': ...}` for a window, `{'list_id': ...}` for a list; {} without a slice."""
    if stream_slice is None:
        return {}
    return dict(stream_slice.cursor_slice or stream_slice.partition)



def public_url(url: str) -> str:
    """`url` without its query, fragment and user info: what a message may show (v2 puts api_key in the query)."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1], query="", fragment="").geturl()
