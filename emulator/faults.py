"""Fault switches tests flip to make the emulator misbehave in controlled, counted ways."""
from __future__ import annotations

import threading

from .common import Response, json_response

JOB_APIS = ("cc_v2", "cc_v3", "cometly", "cometly_events")
CC_APIS = ("cc_v2", "cc_v3")
_FAILED_STATE = {"cc_v2": "ERROR", "cc_v3": "failed", "cometly": "failed", "cometly_events": "failed"}
# What a 200 answer can turn into: a body that is not JSON, or a delivery that goes wrong (see Listener).
SPOILED_BODIES = ("html", "empty", "cut", "bad_utf8")
BROKEN_DELIVERIES = ("hang", "stall", "reset")
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
            # Cometly events: readings of what the docs leave open (default: least forgiving; cometly_events.py).
            self.cometly_events_start_inclusive = False   # GET /events start_date bound
            self.cometly_events_end_inclusive = False     # GET /events end_date bound
            self.cometly_events_order = "newest"          # or "oldest" (list pages and export files)
            self.cometly_events_default_fields = "minimal"   # without `fields`: id, event_time_utc; or "all"
            self.cometly_array_params = "brackets"        # name[]=a only; "lenient" also takes plain name=a
            self.cometly_event_ids = "mixed"              # or "int", "str" (cometly_events_data.wire_ids)

    # ------------------------------------------------------------ switches

    def rate_limit(self, path_contains: str, times: int, retry_after: int = 1):
        """The next `times` requests whose path contains the string answer 429 + Retry-After."""
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

        state: final state to report; defaults to ERROR (cc_v2) / failed (cc_v3, cometly, cometly_events);
        cc_v3 also accepts 'timed_out' and 'cancelled'; cometly_events reports any state given as its status.
        api 'cometly' is the contacts exports, 'cometly_events' the event exports.
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
        at most one of each kind; faults whose row the file does not have stay pending (in _broken_rows)."""
        with self._lock:
            taken, pending = {}, []
            for kind, row_no, arg in self._broken_rows[api]:
                if kind not in taken and row_no <= n_rows:
                    taken[kind] = (row_no, arg)
                else:
                    pending.append([kind, row_no, arg])
            self._broken_rows[api] = pending
            return taken

    def take_job_failure(self, api: str) -> str | None:
        with self._lock:
            pending = self._job_failures[api]
            return pending.pop(0) if pending else None

    def spoil(self, request, response: Response) -> Response:
        """`response`, spoiled as a pending spoil_answers switch for `request` says (200 answers only)."""
        if response.status != 200:
            return response
        target = request.path + "?" + "&".join(f"{k}={v}" for k, values in request.query_all.items() for v in values)
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
        """The `error_key` of a 429 for this call to `api` (`throttled`, `quota_exceeded`), or None; counts the call."""
        with self._lock:
            if self._cc_throttles[api] > 0:
                self._cc_throttles[api] -= 1
                return "throttled"
            left = self._cc_calls_left[api]
            if left is None:
                return None
            if left <= 0:
                return "quota_exceeded"
            self._cc_calls_left[api] = left - 1
            return None

    def take_stuck_job(self, api: str) -> bool:
        with self._lock:
            if self._stuck_jobs[api] > 0:
                self._stuck_jobs[api] -= 1
                return True
            return False
