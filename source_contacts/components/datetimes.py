"""Date-times as UTC instants: whatever offset (or CSV form) an API writes, the same instant ending in `Z`."""

import re
from datetime import datetime, timedelta, timezone
from typing import Dict, Optional

# The forms date-times come in: both CSV forms (`2018-11-29 15:10:15 -0500`, `2019-11-25T16:29:13.057 -0500`), RFC 3339.
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(Z|z|[+-]\d{2}:?\d{2})?"
)
_UTC = timezone.utc
_OFFSETS: Dict[str, timedelta] = {}


def to_rfc3339(value: str) -> Optional[str]:
    """A date-time as fixed-width UTC RFC 3339 (`2018-11-29T20:10:15.000Z`); empty -> None; else ValueError."""
    if not value:
        return None
    if len(value) > 6 and value[-6] == " " and value[-5] in "+-":
        # Both CSV forms end in ` -0500`: the wall time, read naive, minus its offset is UTC (the fast path: a few
        # of these per row make most of a CSV row's cost).
        offset = _OFFSETS.get(value[-5:])
        if offset is None:
            offset = _offset(value[-5:])
        try:
            local = datetime.fromisoformat(value[:-6])
        except ValueError:
            local = None
        if offset is not None and local is not None and local.tzinfo is None:
            return (local - offset).isoformat(timespec="milliseconds") + "Z"
    return _parse_datetime(value).astimezone(_UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _offset(text: str) -> Optional[timedelta]:
    """`-0500` as a timedelta (kept for the next value); None if it is not one."""
    if not text[1:].isdigit():
        return None
    offset = (-1 if text[0] == "-" else 1) * timedelta(hours=int(text[1:3]), minutes=int(text[3:]))
    return _OFFSETS.setdefault(text, offset)


def _parse_datetime(value: str) -> datetime:
    """Any form `_DATETIME` accepts, as an aware datetime; else ValueError."""
    match = _DATETIME.fullmatch(value.strip())
    if match is None:
        raise ValueError(value)
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=_UTC)
    if offset and offset not in ("Z", "z"):
        # A naive time is read as UTC: no API here writes one, and guessing a zone would be worse.
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment

