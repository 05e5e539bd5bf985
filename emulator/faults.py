"""Fault switches tests flip to make the emulator misbehave in controlled, counted ways."""
from __future__ import annotations

import gzip
import threading

from .common import READINGS, Response, bounds_slice, in_bounds, json_response, parse_offset, rebase, render_stamp, \
    restamp_json, utc_now

JOB_APIS = ("cc_v2", "cc_v3", "cometly", "cometly_events")
CC_APIS = ("cc_v2", "cc_v3")
_FAILED_STATE = {"cc_v2": "ERROR", "cc_v3": "failed", "cometly": "failed", "cometly_events": "failed"}
# What a 200 answer can turn into: a body that is not JSON, or a delivery that goes wrong (see Listener).
SPOILED_BODIES = ("html", "empty", "cut", "bad_utf8")
BROKEN_DELIVERIES = ("hang", "stall", "reset")
TOKEN_FAULTS = ("html", "server_error", "hang")
FOREVER = 10**9   # a `times` that never runs out
_PROXY_PAGE = (b"<html><head><title>502 Bad Gateway</title></head>"
               b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>")


class Faults:
    """All switches are thread-safe; counted faults are consumed one per matching request/file."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        """Clear every switch and restore the defaults."""
        with self._lock:
            self.job_polls_until_done = 2     # intermediate polls before a job is final
            self.access_token_ttl = 3600      # v3 access token lifetime, seconds
            self.download_url_ttl = 900       # Cometly presigned URL lifetime, seconds
            self.enforce_rate_limits = False  # Cometly per space: list 15, create export 5, get export 30 a period
            self.rate_limit_period = 60.0     # seconds; a benchmark may run the limits on a faster clock
            self.job_seconds = None           # a job completes this many seconds after creation, not by polls
            self._path_faults = []            # [substring, remaining, kind, arg]
            self._expired_downloads = 0
            self._truncations = 0
            self._malformed_lines = []        # pending line numbers (1-based)
            self._broken_rows = {"cc_v2": [], "cc_v3": []}
            self._job_failures = {api: [] for api in JOB_APIS}
            self._spoiled_answers = []        # [substring, remaining, kind, good answers to let through first]
            self._cc_throttles = dict.fromkeys(CC_APIS, 0)
            self._cc_calls_left = dict.fromkeys(CC_APIS)   # None: the daily quota is not counted
            self._stuck_jobs = dict.fromkeys(JOB_APIS, 0)
            # Stricter readings of the docs (third round); see the switches below.
            self.offset = None                # stamp_offset: None = UTC 'Z'
            self.bound_after = None           # bounds: None = the endpoint's own reading
            self.bound_before = None
            self.retry_after_as_date = False  # Cometly's own 429s send Retry-After as an HTTP-date
            self._empty_files = 0
            self._uncompressed_files = 0
            self._csv_renames = {api: {} for api in CC_APIS}
            self._csv_duplicates = {api: [] for api in CC_APIS}
            self._repeat_links = []           # [substring, remaining]
            self._foreign_links = []          # [url_base, substring, remaining]
            self._token_faults = []           # [kind, remaining, status]
            self._cc_calls = dict.fromkeys(CC_APIS, 0)
            self._cc_quota_refusals = dict.fromkeys(CC_APIS, 0)
            self._cc_daily_limit = dict.fromkeys(CC_APIS)  # None: no per-day limit enforced
            self._cc_calls_today = {api: (None, 0) for api in CC_APIS}   # (UTC date, calls counted that day)
            self.cc_clock = utc_now           # the clock the daily count reads (a test may move it past midnight)
            # Readings of the v3 reports where the docs allow two (see cc_v3_engagement.py):
            self.cc_stats_keys = "dotted"     # activity stats keys: "dotted" (guide: em_opens.all.mobile) or "underscored"
            self.cc_last_page_links = "omit"  # a tracking report's last page: "omit" _links, or "null" (next.href null)
            # Cometly events: readings of what the docs leave open (default: least forgiving; cometly_events.py).
            self.cometly_events_start_inclusive = False   # GET /events start_date bound
            self.cometly_events_end_inclusive = False     # GET /events end_date bound
            self.cometly_events_order = "newest"          # or "oldest" (list pages and export files)
            self.cometly_events_default_fields = "minimal"   # without `fields`: id, event_time_utc; or "all"
            self.cometly_array_params = "brackets"        # name[]=a only; "lenient" also takes plain name=a
            self.cometly_event_ids = "mixed"              # or "int", "str" (cometly_events_data.wire_ids)

    # ------------------------------------------------------------ switches

    def rate_limit(self, path_contains: str, times: int, retry_after: int | str = 1):
        """The next `times` requests whose path contains the string answer 429 + Retry-After.

        retry_after: seconds, or a string sent as is, such as an RFC 9110 HTTP-date (common.http_date(30))."""
        with self._lock:
            self._path_faults.append([path_contains, times, "rate_limit", retry_after])

    def server_error(self, path_contains: str, times: int, status: int = 503):
        """The next `times` requests whose path contains the string answer `status`."""
        with self._lock:
            self._path_faults.append([path_contains, times, "server_error", status])

    def expire_download_urls(self, times: int = 1):
        """The next `times` file-host downloads answer 403 'expired' even when validly signed."""
        with self._lock:
            self._expired_downloads += times

    def truncate_next_files(self, times: int = 1):
        """The next `times` served gzip export files are cut in the middle."""
        with self._lock:
            self._truncations += times

    def malformed_ndjson_line(self, line_no: int):
        """The next Cometly export file with at least `line_no` lines gets that line broken."""
        with self._lock:
            self._malformed_lines.append(line_no)

    def broken_csv_row(self, api: str, row_no: int):
        """The next CSV export of `api` ('cc_v2'|'cc_v3') with at least `row_no` data rows
        gets that row (1-based, header excluded) with one field too many."""
        self._add_csv_fault(api, "extra_field", row_no)

    def short_csv_files(self, api: str, times: int = 1):
        """The next `times` CSV exports of `api` leave out their last row: a well-formed file cut at a row
        boundary, one row short of the count its activity reports."""
        for _ in range(times):
            self._add_csv_fault(api, "short", 1)

    def long_csv_field(self, api: str, row_no: int, size: int = 200_000):
        """The next CSV export of `api` with at least `row_no` data rows carries common.long_field_value(size) in
        that row (v3: its Notes, v2: its Custom Field 15), more than Python's csv reads by default (128 KB)."""
        self._add_csv_fault(api, "long_field", row_no, size)

    def non_utf8_csv_byte(self, api: str, row_no: int):
        """The next CSV export of `api` with at least `row_no` data rows has a byte that is not UTF-8 (0xFF)
        at the end of that row's first name."""
        self._add_csv_fault(api, "bad_byte", row_no)

    def _add_csv_fault(self, api: str, kind: str, row_no: int, arg=None):
        if api not in CC_APIS:
            raise ValueError(f"api must be one of {CC_APIS}")
        with self._lock:
            self._broken_rows[api].append([kind, row_no, arg])

    def fail_next_jobs(self, api: str, n: int = 1, state: str | None = None):
        """The next `n` export jobs created on `api` end in failure instead of completing.

        state: final state to report; defaults to ERROR (cc_v2) / failed (cc_v3, cometly, cometly_events). Any string
        is served as is, on every API: e.g. 'timed_out' or 'cancelled' (v3 documents them), or for Cometly 'cancelled',
        'expired', 'timed_out', which its docs do not list: the job then reports that status for ever, never a
        documented final one. api 'cometly' is the contacts exports, 'cometly_events' the event exports.
        """
        if api not in JOB_APIS:
            raise ValueError(f"api must be one of {JOB_APIS}")
        with self._lock:
            self._job_failures[api].extend([state or _FAILED_STATE[api]] * n)

    def spoil_answers(self, target_contains: str, times: int = 1, kind: str = "html", after: int = 0):
        """After `after` good ones, the next `times` 200 answers to requests whose path and query
        (`/v3/contacts?limit=500&...`, decoded) contain the string go wrong:
        'html' a proxy's error page (text/html), 'empty' no body, 'cut' the first half of the body,
        'bad_utf8' one byte of the body replaced by 0xFF; 'hang' the request is read and never answered,
        'stall' the headers and half the body are sent and then nothing, 'reset' the same, then the
        connection is reset."""
        if kind not in SPOILED_BODIES + BROKEN_DELIVERIES:
            raise ValueError(f"kind must be one of {SPOILED_BODIES + BROKEN_DELIVERIES}")
        with self._lock:
            self._spoiled_answers.append([target_contains, times, kind, after])

    def throttle_cc(self, api: str, times: int = 1):
        """The next `times` calls to `api` ('cc_v2'|'cc_v3') answer 429 `throttled` (Constant Contact sends no Retry-After)."""
        with self._lock:
            self._cc_throttles[api] += times

    def cc_daily_quota(self, api: str, calls_left: int):
        """`api` allows `calls_left` more calls today; every later call answers 429 `quota_exceeded`."""
        with self._lock:
            self._cc_calls_left[api] = calls_left

    def cc_daily_limit(self, api: str, per_day: int | None = 10_000):
        """Enforce Constant Contact's daily quota on `api`: once `per_day` calls were counted in the current UTC day,
        calls answer 429 `quota_exceeded` until 00:00 UTC (None: stop enforcing). Counting is always on."""
        with self._lock:
            self._cc_daily_limit[api] = per_day

    def cc_calls_today(self, api: str) -> int:
        """Calls to `api` counted against its daily quota in the current UTC day (the token endpoint is not one)."""
        with self._lock:
            day, n = self._cc_calls_today[api]
            return n if day == self.cc_clock().date() else 0

    def stick_next_jobs(self, api: str, n: int = 1):
        """The next `n` export jobs created on `api` stay in their processing state forever."""
        with self._lock:
            self._stuck_jobs[api] += n

    # ------------------------------------------------------------ consumers (used by the server)

    def take_path_fault(self, path: str) -> Response | None:
        with self._lock:
            for fault in self._path_faults:
                substring, remaining, kind, arg = fault
                if remaining > 0 and substring in path:
                    fault[1] -= 1
                    break
            else:
                return None
            self._path_faults = [f for f in self._path_faults if f[1] > 0]
        if kind == "rate_limit":
            return json_response({"message": "Too Many Requests (emulated)", "error_key": "too_many_requests"},
                                 429, {"Retry-After": str(arg)})
        return json_response({"message": f"Server error {arg} (emulated)", "error_key": "server_error"}, arg)

    def take_expired_download(self) -> bool:
        with self._lock:
            if self._expired_downloads > 0:
                self._expired_downloads -= 1
                return True
            return False

    def take_truncation(self) -> bool:
        with self._lock:
            if self._truncations > 0:
                self._truncations -= 1
                return True
            return False

    def take_malformed_line(self, n_lines: int) -> int | None:
        with self._lock:
            for i, line_no in enumerate(self._malformed_lines):
                if line_no <= n_lines:
                    return self._malformed_lines.pop(i)
            return None

    def take_csv_faults(self, api: str, n_rows: int) -> dict:
        """The faults of the next CSV export of `api`, which has `n_rows` data rows: {kind: (row number, arg)},
        at most one of each kind; faults whose row the file does not have stay pending (in _broken_rows); plus
        the header faults (csv_header_faults), which stay on."""
        with self._lock:
            taken, pending = {}, []
            for kind, row_no, arg in self._broken_rows[api]:
                if kind not in taken and row_no <= n_rows:
                    taken[kind] = (row_no, arg)
                else:
                    pending.append([kind, row_no, arg])
            self._broken_rows[api] = pending
        return {**taken, **self.csv_header_faults(api)}

    def take_job_failure(self, api: str) -> str | None:
        with self._lock:
            pending = self._job_failures[api]
            return pending.pop(0) if pending else None

    @staticmethod
    def _target(request) -> str:
        """What `*_contains` switches match: the path and the decoded query, `/v3/contacts?limit=500&...`."""
        return request.path + "?" + "&".join(f"{k}={v}" for k, values in request.query_all.items() for v in values)

    def spoil(self, request, response: Response) -> Response:
        """`response`, spoiled as a pending spoil_answers switch for `request` says (200 answers only)."""
        if response.status != 200:
            return response
        target = self._target(request)
        with self._lock:
            for fault in self._spoiled_answers:
                if fault[1] > 0 and fault[0] in target:
                    if fault[3] > 0:
                        fault[3] -= 1
                        return response
                    fault[1] -= 1
                    kind = fault[2]
                    break
            else:
                return response
            self._spoiled_answers = [f for f in self._spoiled_answers if f[1] > 0]
        body = response.body
        if kind in BROKEN_DELIVERIES:
            response.delivery = kind
        elif kind == "html":
            response.body, response.headers["Content-Type"] = _PROXY_PAGE, "text/html"
        elif kind == "empty":
            response.body = b""
        elif kind == "cut":
            response.body = body[: len(body) // 2]
        else:  # bad_utf8: a letter inside a string, which a lenient decoder would quietly read as U+FFFD
            quote = body.index(b'"', len(body) // 2)
            at = next(i for i in range(quote + 1, len(body)) if body[i:i + 1].isalpha())
            response.body = body[:at] + b"\xff" + body[at + 1:]
        return response

    def take_cc_refusal(self, api: str) -> str | None:
        """The `error_key` of a 429 for this call to `api` (`throttled`, `quota_exceeded`), or None; a call let through
        counts against today's quota (a refused one does not)."""
        with self._lock:
            self._cc_calls[api] += 1
            if self._cc_throttles[api] > 0:
                self._cc_throttles[api] -= 1
                return "throttled"
            today = self.cc_clock().date()
            day, n = self._cc_calls_today[api]
            n = n if day == today else 0      # the count starts again at 00:00 UTC
            limit = self._cc_daily_limit[api]
            if limit is not None and n >= limit:
                self._cc_quota_refusals[api] += 1
                return "quota_exceeded"
            left = self._cc_calls_left[api]
            if left is not None:
                if left <= 0:
                    self._cc_quota_refusals[api] += 1
                    return "quota_exceeded"
                self._cc_calls_left[api] = left - 1
            self._cc_calls_today[api] = (today, n + 1)
            return None

    def take_stuck_job(self, api: str) -> bool:
        with self._lock:
            if self._stuck_jobs[api] > 0:
                self._stuck_jobs[api] -= 1
                return True
            return False

    # ------------------------------------------------------------ stricter readings of the docs (third round)

    def stamp_offset(self, offset: str | None):
        """Serve every date-time as the same instant at `offset` ('+05:30', '-04:00'; 'Z' or None: UTC 'Z', the
        default), fraction style kept. Serves the reading that an API may send any offset (the v3 docs' own example
        is 2026-01-27T15:39:20-05:00): applied to every JSON answer of the API listener (restamp) and to the lines
        of NDJSON export files; filters parse any offset on the way in (common.parse_iso)."""
        parse_offset(offset)   # a ValueError now rather than at the next answer
        with self._lock:
            self.offset = None if offset in (None, "Z", "z") else offset

    def render_stamp(self, dt, style: str = "s") -> str:
        """`dt` as an endpoint of `style` ('s', 'ms', 'us': see common.render_stamp) renders it under stamp_offset.
        For code that writes stamps itself; JSON answers are also restamped as a whole (restamp)."""
        return render_stamp(dt, style, self.offset)

    def restamp(self, body: bytes) -> bytes:
        """JSON or NDJSON bytes with every UTC stamp rendered at stamp_offset (no-op at the default)."""
        offset = self.offset
        return restamp_json(body, offset) if offset else body

    def restamp_response(self, response: Response) -> Response:
        """A JSON answer restamped (the API listener calls this on every answer; other types pass)."""
        if self.offset and response.headers.get("Content-Type", "").startswith("application/json"):
            response.body = self.restamp(response.body)
        return response

    def bounds(self, after: str | None = None, before: str | None = None):
        """Read every range filter's lower (`after`: updated_after, optout_after, after_date, modified_since,
        Cometly start_date) and upper (`before`: updated_before, optout_before, before_date, Cometly end_date)
        bound as 'inclusive' or 'exclusive'; None keeps the endpoint's own reading. Serves the docs that say
        "after"/"before" without saying whether the bound itself is in. Defaults: v3 /contacts *_after inclusive,
        *_before exclusive; v3 /emails both inclusive; v2 modified_since inclusive; Cometly both inclusive."""
        for reading in (after, before):
            if reading is not None and reading not in READINGS:
                raise ValueError(f"a bound is one of {READINGS} or None")
        with self._lock:
            self.bound_after, self.bound_before = after, before

    def strictest_bounds(self):
        """Both bounds of every range filter exclusive: a record on a window edge is in neither window."""
        self.bounds("exclusive", "exclusive")

    def readings(self, after: str = "inclusive", before: str = "inclusive") -> tuple[str, str]:
        """(lower, upper) bound readings for an endpoint whose own are (`after`, `before`), under `bounds`."""
        return self.bound_after or after, self.bound_before or before

    @staticmethod
    def in_bounds(value, low, high, readings: tuple[str, str]) -> bool:
        """common.in_bounds with the (after, before) readings `readings()` gave."""
        return in_bounds(value, low, high, *readings)

    @staticmethod
    def bounds_slice(keys, low, high, readings: tuple[str, str], lo: int = 0, hi: int | None = None):
        """common.bounds_slice with the (after, before) readings `readings()` gave."""
        return bounds_slice(keys, low, high, *readings, lo=lo, hi=hi)

    def empty_next_files(self, times: int = 1):
        """The next `times` gzip export files (the presigned file host) are 0 bytes, 200, Content-Length: 0: an
        incomplete download, since a gzip file is never empty."""
        with self._lock:
            self._empty_files += times

    def uncompressed_next_files(self, times: int = 1):
        """The next `times` gzip export files are served as the plain NDJSON (not gzipped), 200, same headers."""
        with self._lock:
            self._uncompressed_files += times

    def export_file_body(self, blob: bytes) -> bytes:
        """A gzip export file as served, after empty_next_files, uncompressed_next_files and truncate_next_files
        (consumed in that order, one file each). For every gzip download route."""
        with self._lock:
            if self._empty_files > 0:
                self._empty_files -= 1
                return b""
            plain = self._uncompressed_files > 0
            if plain:
                self._uncompressed_files -= 1
        if plain:
            blob = gzip.decompress(blob)
        if self.take_truncation():
            blob = blob[: len(blob) // 2]
        return blob

    def rename_csv_column(self, api: str, label: str, new_label: str):
        """Every later CSV export of `api` ('cc_v2'|'cc_v3') heads the column `label` with `new_label` (a renamed
        or localized label: v3 'Email address - other' -> 'E-mail address - other', v2 'Email' -> 'E-mail'),
        until reset. Serves the reading that labels are display text, not a stable interface."""
        if api not in CC_APIS:
            raise ValueError(f"api must be one of {CC_APIS}")
        with self._lock:
            self._csv_renames[api][label] = new_label

    def duplicate_csv_label(self, api: str, label: str):
        """Every later CSV export of `api` has a second column headed `label` right after the first, with other
        values (common.duplicate_value), until reset: two custom fields the account gave the same label."""
        if api not in CC_APIS:
            raise ValueError(f"api must be one of {CC_APIS}")
        with self._lock:
            self._csv_duplicates[api].append(label)

    def csv_header_faults(self, api: str) -> dict:
        """{'rename': {...}, 'duplicate': [...]} for the next CSV of `api` (only the kinds switched on)."""
        with self._lock:
            out = {}
            if self._csv_renames[api]:
                out["rename"] = dict(self._csv_renames[api])
            if self._csv_duplicates[api]:
                out["duplicate"] = list(self._csv_duplicates[api])
            return out

    def repeat_next_link(self, path_contains: str, times: int = 1):
        """The next `times` list answers whose path and query contain the string carry a next link or cursor that
        leads back to the very same page (v3 _links.next.href, v2 meta.pagination.next_link, Cometly next_cursor
        and next_page_url), the last page included; FOREVER (or any large number) means always. A client that
        follows links blindly loops."""
        with self._lock:
            self._repeat_links.append([path_contains, times])

    def take_repeat_link(self, request) -> bool:
        """Whether this answer's next link must lead back to its own page (counts one)."""
        if not self._repeat_links:   # the default: no lock, no string built per page
            return False
        return self._take_counted(self._repeat_links, 0, self._target(request))

    def foreign_links(self, url_base: str, times: int = 1, path_contains: str = ""):
        """The next `times` links handed out (v3 _links.next.href, v2 next_link, the v2 export activity's
        file_name, Cometly next_page_url) in answers whose path and query contain `path_contains` are absolute
        URLs on `url_base` (e.g. emu.files_url, another host:port), path and query otherwise right. The files
        listener logs what it gets (emu.file_requests) and answers 404, so a test sees which credentials went
        there."""
        with self._lock:
            self._foreign_links.append([path_contains, times, url_base])

    def link(self, request, href: str | None) -> str | None:
        """`href` as handed out under foreign_links (None stays None and counts nothing)."""
        if href is None or not self._foreign_links:
            return href
        with self._lock:
            target = self._target(request)
            for fault in self._foreign_links:
                if fault[1] > 0 and fault[0] in target:
                    fault[1] -= 1
                    self._foreign_links = [f for f in self._foreign_links if f[1] > 0]
                    return rebase(href, fault[2])
        return href

    def token_fault(self, kind: str = "html", times: int = 1, status: int = 500):
        """The next `times` OAuth token requests (/oauth2/default/v1/token) are answered, without the refresh
        token being spent: 'html' 200 with an HTML page, 'server_error' `status` (times=FOREVER: for good),
        'hang' read and never answered. (spoil_answers on the token path spoils the answer after the token
        rotated, so the client loses its new refresh token; server_error() answers before, like 'server_error'.)"""
        if kind not in TOKEN_FAULTS:
            raise ValueError(f"kind must be one of {TOKEN_FAULTS}")
        with self._lock:
            self._token_faults.append([kind, times, status])

    def take_token_fault(self) -> Response | None:
        if not self._token_faults:
            return None
        with self._lock:
            fault = next((f for f in self._token_faults if f[1] > 0), None)
            if fault is None:
                return None
            fault[1] -= 1
            self._token_faults = [f for f in self._token_faults if f[1] > 0]
        kind, _, status = fault
        if kind == "server_error":
            return json_response({"errorCode": "server_error", "errorSummary": "Internal error (emulated)"}, status)
        response = Response(200, _PROXY_PAGE.replace(b"502 Bad Gateway", b"Sign in"), "text/html")
        if kind == "hang":
            response.delivery = "hang"
        return response

    def cc_calls(self, api: str) -> int:
        """Authenticated calls made to `api` ('cc_v2'|'cc_v3') since reset, those refused (throttled, quota_exceeded)
        included: a test asserts that none follows a quota_exceeded."""
        with self._lock:
            return self._cc_calls[api]

    def cc_quota_refusals(self, api: str) -> int:
        """Calls to `api` answered 429 quota_exceeded since reset."""
        with self._lock:
            return self._cc_quota_refusals[api]

    def _take_counted(self, faults: list, kind_index: int, target: str) -> bool:
        with self._lock:
            for fault in faults:
                if fault[1] > 0 and fault[kind_index] in target:
                    fault[1] -= 1
                    faults[:] = [f for f in faults if f[1] > 0]
                    return True
            return False
