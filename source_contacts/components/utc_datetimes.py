"""Every date-time of a record as a UTC instant ending in `Z`, before it is emitted and before a cursor sees it.

Constant Contact writes some stamps with an offset (its docs' own example: `2026-01-27T15:39:20-05:00`); a cursor
that kept the wall time and dropped the offset would save a state hours off the data.
"""

import re
from dataclasses import InitVar, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Mapping, Optional

from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.types import Config, StreamSlice, StreamState

# RFC 3339 with a numeric offset (a `Z` stamp is UTC already); the fraction is kept as written.
_OFFSET_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?([+-])(\d{2}):?(\d{2})")


def as_utc(value: str) -> str:
    """`2026-01-27T15:39:20.123-05:00` -> `2026-01-27T20:39:20.123Z`; any other string unchanged."""
    match = _OFFSET_STAMP.fullmatch(value)
    if match is None:
        return value
    wall, fraction, sign, hours, minutes = match.groups()
    offset = (1 if sign == "+" else -1) * timedelta(hours=int(hours), minutes=int(minutes))
    utc = datetime.fromisoformat(wall).replace(tzinfo=timezone.utc) - offset
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + (fraction or "") + "Z"


def _converted(value: Any) -> Any:
    if isinstance(value, str):
        return as_utc(value) if len(value) >= 24 and value[10:11] == "T" else value
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _converted(item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = _converted(item)
    return value


@dataclass
class UtcDatetimes(RecordTransformation):
    """Rewrites every date-time with an offset in the record, nested ones too, as the same instant in UTC (`Z`)."""

    config: Config
    parameters: InitVar[Mapping[str, Any]]

    def transform(
        self,
        record: Dict[str, Any],
        config: Optional[Config] = None,
        stream_state: Optional[StreamState] = None,
        stream_slice: Optional[StreamSlice] = None,
    ) -> None:
        _converted(record)
