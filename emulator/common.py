"""Small helpers shared by the API modules: time formats, opaque tokens, HTTP value objects."""
from __future__ import annotations

import base64
import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone

UTC = timezone.utc


# ---------------------------------------------------------------- time

def utc_now() -> datetime:
    """Wall clock in UTC, truncated to whole seconds (mutations stamp records with this)."""
    return datetime.now(UTC).replace(microsecond=0)


def as_utc(at: datetime | None) -> datetime:
    """Normalize a mutation timestamp: default now, naive means UTC, truncated to seconds."""
    if at is None:
        return utc_now()
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).replace(microsecond=0)


def _naive_utc(dt: datetime) -> datetime:
    return (dt if dt.tzinfo is UTC else dt.astimezone(UTC)).replace(tzinfo=None)


# isoformat() is several times faster than strftime, which matters for 100k-record datasets.
def fmt_ms(dt: datetime) -> str:
    """Constant Contact v2 style: 2013-02-25T15:32:24.000Z."""
    return _naive_utc(dt).isoformat(timespec="milliseconds") + "Z"


def fmt_s(dt: datetime) -> str:
    """Constant Contact v3 style: 2024-03-05T14:02:11Z."""
    return _naive_utc(dt).isoformat(timespec="seconds") + "Z"


def fmt_us(dt: datetime) -> str:
    """Laravel (Cometly) style: 2024-05-01T12:00:00.000000Z."""
    return _naive_utc(dt).isoformat(timespec="microseconds") + "Z"


def from_utc_stamp(stamp: str) -> datetime:
    """Fast inverse of the fmt_* helpers (our own fixed-format '...Z' strings only)."""
    return datetime.fromisoformat(stamp[:-1]).replace(tzinfo=UTC)


_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2}|\s\d{2}:?\d{2})?$"
)


def parse_iso(value: str) -> datetime | None:
    """Lenient ISO 8601 / RFC 3339 parser returning an aware UTC datetime, or None if invalid.

    Accepts a date only, optional seconds and fractions of any length, `Z` or an offset.
    A leading space in the offset is read as '+', because an unencoded '+' in a query
    string arrives as a space.  No offset means UTC.
    """
    m = _ISO.match(value.strip()) if value else None
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0),
                      int((frac or "0").ljust(6, "0")[:6]), tzinfo=UTC)
    except ValueError:
        return None
    if tz and tz not in ("Z", "z"):
        tz = tz.strip()
        sign = -1 if tz.startswith("-") else 1
        digits = tz.lstrip("+-").replace(":", "")
        dt -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return dt


# ---------------------------------------------------------------- export files

def long_field_value(size: int) -> str:
    """What Faults.long_csv_field writes: `size` characters of text with CSV hazards (commas, quotes, newlines)."""
    return ('A long note, "quoted",\nover lines. ' * (size // 30 + 1))[:size]


def csv_file(rows: list[list[str]], faults: dict, long_column: str, name_column: str, delimiter: str = ",",
             bom: bool = False) -> bytes:
    """An RFC 4180 export file (CRLF) of a header row and data rows, spoiled as Faults.take_csv_faults handed out:
    at their row `extra_field`, `long_field` (in `long_column`), `bad_byte` (after `name_column`); `short` drops
    the last row."""
    header, data = rows[0], rows[1:]
    if "short" in faults:
        data = data[:-1]
    buf = io.StringIO()
    if bom:
        buf.write("\ufeff")
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for row_no, row in enumerate(data, start=1):
        if faults.get("long_field", (0,))[0] == row_no:
            row = [long_field_value(faults["long_field"][1]) if label == long_column else value
                   for label, value in zip(header, row)]
        if faults.get("bad_byte", (0,))[0] == row_no:   # a lone surrogate, written as the byte 0xFF
            row = [value + "\udcff" if label == name_column else value for label, value in zip(header, row)]
        if faults.get("extra_field", (0,))[0] == row_no:
            row = row + ["unexpected extra field"]
        writer.writerow(row)
    return buf.getvalue().encode("utf-8", "surrogateescape")


# ---------------------------------------------------------------- opaque cursors

def encode_token(state: dict) -> str:
    """Opaque, URL-safe pagination token (base64 of compact JSON, no padding)."""
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        state = json.loads(raw)
        return state if isinstance(state, dict) else None
    except (ValueError, TypeError):
        return None


# ---------------------------------------------------------------- HTTP value objects

class Headers(dict):
    """A plain dict of header name -> value whose lookups ignore case."""

    def _key(self, name):
        if isinstance(name, str):
            low = name.lower()
            for k in dict.keys(self):
                if k.lower() == low:
                    return k
        return name

    def __getitem__(self, name):
        return dict.__getitem__(self, self._key(name))

    def __contains__(self, name):
        return dict.__contains__(self, self._key(name))

    def get(self, name, default=None):
        return dict.get(self, self._key(name), default)


class Request:
    """What route handlers see."""

    def __init__(self, method, path, query, query_all, headers, body, base_url):
        self.method = method
        self.path = path
        self.query = query            # name -> last value
        self.query_all = query_all    # name -> [values]
        self.headers = headers
        self.body = body
        self.base_url = base_url      # http://127.0.0.1:PORT of the listener that got it
        self.params = {}              # named groups of the matched route

    def json(self):
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise HttpError(json_response({"message": "Request body is not valid JSON"}, 400))


class Response:
    def __init__(self, status=200, body=b"", content_type="application/json", headers=None):
        self.status = status
        self.body = body
        self.headers = {"Content-Type": content_type, **(headers or {})}
        self.delivery = "whole"       # or a fault: "hang", "stall", "reset" (see Listener)


def json_response(obj, status=200, headers=None) -> Response:
    return Response(status, json.dumps(obj, ensure_ascii=False).encode(), "application/json", headers)


class HttpError(Exception):
    """Raised by handlers to answer with a ready-made error response."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response
