"""Small helpers shared by the API modules: time formats, opaque tokens, HTTP value objects."""
from __future__ import annotations

import base64
import bisect
import csv
import email.utils
import io
import json
import re
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode, urlsplit, urlunsplit

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


def every(start: datetime, step: timedelta, end: datetime) -> list[datetime]:
    """start, start + step, ... up to end (inclusive): the edges of windows a client tiles a range with."""
    out, at = [], as_utc(start)
    end = as_utc(end)
    while at <= end:
        out.append(at)
        at += step
    return out


def http_date(seconds_from_now: float = 0) -> str:
    """An RFC 9110 HTTP-date (IMF-fixdate) that many seconds from now, e.g. 'Wed, 21 Oct 2026 07:28:00 GMT':
    the other form a Retry-After may take."""
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


# ---------------------------------------------------------------- offsets: the same instant, another wall time

_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_STAMP = re.compile(rb'"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,9})?Z"')
_TIMESPEC = {"s": "seconds", "ms": "milliseconds", "us": "microseconds"}


def parse_offset(offset: str | None) -> tuple[str, timedelta] | None:
    """'+05:30' / '-0400' / 'Z' -> (suffix as rendered, its timedelta); None or 'Z' -> None (plain UTC 'Z').
    '+00:00' and '-00:00' stay what they are: the same instant as Z, spelled differently."""
    if offset is None or offset in ("Z", "z"):
        return None
    m = _OFFSET.match(offset)
    if not m or int(m.group(3)) >= 60 or int(m.group(2)) >= 24:
        raise ValueError(f"offset must be 'Z' or like '+05:30' / '-04:00', not {offset!r}")
    sign, hours, minutes = m.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes)) * (-1 if sign == "-" else 1)
    return f"{sign}{hours}:{minutes}", delta


def render_stamp(dt: datetime, style: str = "s", offset: str | None = None) -> str:
    """RFC 3339 of the instant `dt` at `offset` ('Z' or None: UTC ending in Z), with the fraction of `style`:
    's' (v3: 2024-03-05T14:02:11Z), 'ms' (v2, v3 campaigns: .000), 'us' (Cometly/Laravel: .000000).
    render_stamp(2024-03-01T10:00:00Z, 's', '+05:30') == '2024-03-01T15:30:00+05:30'."""
    spec = _TIMESPEC[style]
    parsed = parse_offset(offset)
    if parsed is None:
        return _naive_utc(dt).isoformat(timespec=spec) + "Z"
    suffix, delta = parsed
    return (_naive_utc(dt) + delta).isoformat(timespec=spec) + suffix


def restamp_json(body: bytes, offset: str | None) -> bytes:
    """Every JSON string of `body` that is one of our UTC stamps ('...Z', any fraction, kept as is) rendered as
    the same instant at `offset`. Works on the bytes, so pages built from cached record pieces need no rebuild."""
    parsed = parse_offset(offset)
    if parsed is None or not body:
        return body
    suffix, delta = parsed
    tail = suffix.encode()

    def shift(m):
        local = datetime.fromisoformat(m.group(1).decode()) + delta
        return b'"' + local.isoformat().encode() + (m.group(2) or b"") + tail + b'"'
    return _STAMP.sub(shift, body)


# ---------------------------------------------------------------- range filters: inclusive or exclusive bounds

READINGS = ("inclusive", "exclusive")


def in_bounds(value, low, high, after: str = "inclusive", before: str = "inclusive") -> bool:
    """Whether `value` passes the range filter low..high (None: no bound) under the readings of its lower (`after`)
    and upper (`before`) bound. The one test every range filter uses (values compare as datetimes or as our
    fixed-width UTC stamp strings)."""
    if low is not None and (value < low if after == "inclusive" else value <= low):
        return False
    if high is not None and (value > high if before == "inclusive" else value >= high):
        return False
    return True


def bounds_slice(keys: list, low, high, after: str = "inclusive", before: str = "inclusive",
                 lo: int = 0, hi: int | None = None) -> tuple[int, int]:
    """The slice of `keys` (sorted tuples whose first element is the filtered value) that in_bounds keeps."""
    hi = len(keys) if hi is None else hi
    first = lambda k: k[0]   # noqa: E731
    if low is not None:
        lo = (bisect.bisect_left if after == "inclusive" else bisect.bisect_right)(keys, low, lo, hi, key=first)
    if high is not None:
        hi = (bisect.bisect_right if before == "inclusive" else bisect.bisect_left)(keys, high, lo, hi, key=first)
    return lo, max(lo, hi)


# ---------------------------------------------------------------- links

def self_href(req, drop: tuple = ()) -> str:
    """The request's own path and query (minus the `drop` parameters), relative: a next link to the same page."""
    query = [(k, v) for k, values in req.query_all.items() if k not in drop for v in values]
    return req.path + ("?" + urlencode(query) if query else "")


def rebase(href: str, url_base: str) -> str:
    """`href` (relative or absolute) on another host: url_base's scheme and host, href's path and query."""
    parts = urlsplit(href)
    base = urlsplit(url_base)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))


# ---------------------------------------------------------------- export files

def long_field_value(size: int) -> str:
    """What Faults.long_csv_field writes: `size` characters of text with CSV hazards (commas, quotes, newlines)."""
    return ('A long note, "quoted",\nover lines. ' * (size // 30 + 1))[:size]


def csv_file(rows: list[list[str]], faults: dict, long_column: str, name_column: str, delimiter: str = ",",
             bom: bool = False) -> bytes:
    """An RFC 4180 export file (CRLF) of a header row and data rows, spoiled as Faults.take_csv_faults handed out:
    at their row `extra_field`, `long_field` (in `long_column`), `bad_byte` (after `name_column`); `short` drops
    the last row; in the header, `duplicate` (labels) adds a second column of the same label after each, with other
    values, and `rename` ({label: new label}) renames columns."""
    header, data = rows[0], rows[1:]
    if "short" in faults:
        data = data[:-1]
    buf = io.StringIO()
    if bom:
        buf.write("\ufeff")
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(_spoil_columns(header, header, faults, 0))
    for row_no, row in enumerate(data, start=1):
        if faults.get("long_field", (0,))[0] == row_no:
            row = [long_field_value(faults["long_field"][1]) if label == long_column else value
                   for label, value in zip(header, row)]
        if faults.get("bad_byte", (0,))[0] == row_no:   # a lone surrogate, written as the byte 0xFF
            row = [value + "\udcff" if label == name_column else value for label, value in zip(header, row)]
        if faults.get("extra_field", (0,))[0] == row_no:
            row = row + ["unexpected extra field"]
        writer.writerow(_spoil_columns(header, row, faults, row_no))
    return buf.getvalue().encode("utf-8", "surrogateescape")


def duplicate_value(value: str, row_no: int) -> str:
    """What Faults.duplicate_csv_label writes in the second column of a label: never the first column's value."""
    return f"{value} #2" if value else f"second #{row_no}"


def _spoil_columns(header: list, row: list, faults: dict, row_no: int) -> list:
    """The header (row_no 0) or a data row with the `duplicate` and `rename` faults of the header applied."""
    dup, rename = faults.get("duplicate") or (), faults.get("rename") or {}
    if not (dup or rename):
        return row
    out = []
    for i, value in enumerate(row):
        label = header[i] if i < len(header) else None
        out.append(rename.get(value, value) if row_no == 0 else value)
        if label in dup:
            out.append(rename.get(value, value) if row_no == 0 else duplicate_value(value, row_no))
    return out


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
