"""Cometly events (list and one-day exports) and companies, under /public-api/v1.

Auth, the rate-limit answer, the start/end parsing, the presigned URLs and the file host are the contacts module's
(cometly.Cometly), used through it so both share one signing table and one download route. Event export jobs are
JobStore jobs of api "cometly_events": target them with faults.fail_next_jobs("cometly_events"),
faults.stick_next_jobs("cometly_events"); fail_next_jobs(..., state="cancelled") reports that (undocumented)
status. The file faults (expire_download_urls, truncate_next_files, malformed_ndjson_line) act on the next
download of either kind of export, as for contacts.

Where the docs are silent, the least forgiving reading is served, with a switch on Faults for the others
(all reset by faults.reset()):
- cometly_events_start_inclusive / cometly_events_end_inclusive (False, False): list bounds are exclusive.
- cometly_events_order ("newest"; "oldest"): list and export file order.
- cometly_events_default_fields ("minimal"; "all"): without `fields`, only id and event_time_utc (MCP's
  documented default), in the list and the export file alike.
- cometly_array_params ("brackets"; "lenient"): arrays in a query string as PHP reads them, `name[]=a&name[]=b`
  (or `name[0]=a`); a plain `name=a` (repeated or not) is a string and fails "must be an array". "lenient" also
  takes the plain name, each occurrence one item.
- cometly_event_ids ("mixed"; "int", "str"): see cometly_events_data.wire_ids.
"""
from __future__ import annotations

import bisect
import gzip
import itertools
import json
import re
import threading
from datetime import date, timedelta
from urllib.parse import urlencode

from .cometly import PREFIX, Cometly, _unprocessable, _Window
from .cometly_events_data import (ALL_FIELDS, ATTRIBUTION_MODELS, ATTRIBUTION_WINDOWS, EVENT_NAMES, MINIMAL_FIELDS,
                                  SOURCES, TOUCHPOINT_FIELDS, Attribution, CometlyEventsData)
from .common import Response, decode_token, encode_token, fmt_s, json_response, utc_now

EVENTS_PER_MIN = 7
EVENT_EXPORT_CREATE_PER_MIN = 5
EVENT_EXPORT_STATUS_PER_MIN = 30
COMPANIES_PER_MIN = 15
EVENTS_MAX_PER_PAGE = 4000
COMPANIES_MAX_PER_PAGE = 5000
DEFAULT_PER_PAGE = 200
MAX_EVENT_NAMES = 10
MAX_SOURCES = 15
QUERY_MODES = ("profile", "company")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
JOB_API = "cometly_events"


def _label(name: str) -> str:
    return name.replace("_", " ")


class CometlyEvents:
    def __init__(self, emu, cometly: Cometly):
        self.emu = emu
        self.cometly = cometly
        self.data = CometlyEventsData(emu.data)
        self._events_window = _Window(EVENTS_PER_MIN)
        self._creates = _Window(EVENT_EXPORT_CREATE_PER_MIN)
        self._polls = _Window(EVENT_EXPORT_STATUS_PER_MIN)
        self._companies_window = _Window(COMPANIES_PER_MIN)
        self._export_ids = itertools.count(5001)
        self._exports = {}   # integer export_id -> Job
        self._lock = threading.Lock()

    def register(self, router):
        authed = self.cometly._authed
        router.add("GET", PREFIX + r"/events", authed(self.events))
        router.add("POST", PREFIX + r"/events/exports", authed(self.create_export))
        router.add("GET", PREFIX + r"/events/exports/(?P<export_id>[^/]+)", authed(self.export_status))
        router.add("GET", PREFIX + r"/companies", authed(self.companies))

    def reset_rate_limits(self):
        """Forget the calls counted so far (tests that share an emulator start each limit afresh)."""
        for w in (self._events_window, self._creates, self._polls, self._companies_window):
            with w.lock:
                w.hits.clear()

    # ------------------------------------------------------------ shared

    def _throttle(self, window: _Window):
        """(429 response or None, headers for a served answer). X-RateLimit-* come on every answer while limits
        are enforced, as the docs say."""
        limited = self.cometly._limited(window)
        if limited is not None or not self.emu.faults.enforce_rate_limits:
            return limited, {}
        with window.lock:
            used = len(window.hits)
        return None, {"X-RateLimit-Limit": str(window.limit), "X-RateLimit-Remaining": str(max(0, window.limit - used))}

    def _query_array(self, req, name: str, errors: dict):
        """A query array as PHP parses it: `name[]=` / `name[0]=` items; a plain `name=` is a string (422), unless
        faults.cometly_array_params is "lenient". None when absent."""
        items, plain = None, req.query_all.get(name)
        for key, values in req.query_all.items():
            if key == f"{name}[]" or re.fullmatch(re.escape(name) + r"\[\d+\]", key):
                items = (items or []) + values
        if plain is not None:
            if self.emu.faults.cometly_array_params == "lenient":
                items = (items or []) + plain
            else:
                errors.setdefault(name, [f"The {_label(name)} field must be an array."])
                return None
        return items

    @staticmethod
    def _body_array(body: dict, name: str, errors: dict):
        value = body.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.setdefault(name, [f"The {_label(name)} field must be an array."])
            return None
        return value

    @staticmethod
    def _check_items(name: str, items, allowed, maximum: int | None, errors: dict):
        if items is None:
            return
        if not items:
            errors.setdefault(name, [f"The {_label(name)} field must have at least 1 items."])
        elif maximum is not None and len(items) > maximum:
            errors.setdefault(name, [f"The {_label(name)} field must not have more than {maximum} items."])
        elif len(set(items)) != len(items):
            dup = next(i for i, v in enumerate(items) if v in items[:i])
            errors.setdefault(f"{name}.{dup}", [f"The {name}.{dup} field has a duplicate value."])
        else:
            for i, v in enumerate(items):
                if v not in allowed:
                    errors.setdefault(f"{name}.{i}", [f"The selected {name}.{i} is invalid."])
                    break

    def _selection(self, get, arrays: dict, errors: dict):
        """Validate the event filters shared by the list and the export -> (names, attribution, fields, mode)."""
        names, sources, fields = arrays["event_names"], arrays["sources"], arrays["fields"]
        self._check_items("event_names", names, EVENT_NAMES, MAX_EVENT_NAMES, errors)
        self._check_items("sources", sources, SOURCES, MAX_SOURCES, errors)
        self._check_items("fields", fields, ALL_FIELDS, None, errors)
        model, window = get("attribution_model"), get("attribution_window")
        if sources is not None:
            if model in (None, ""):
                errors.setdefault("attribution_model", ["The attribution model field is required when sources is present."])
            if window in (None, ""):
                errors.setdefault("attribution_window", ["The attribution window field is required when sources is present."])
        if model not in (None, "") and model not in ATTRIBUTION_MODELS:
            errors.setdefault("attribution_model", ["The selected attribution model is invalid."])
        if window not in (None, ""):
            if isinstance(window, bool) or not re.fullmatch(r"\d+", str(window)):
                errors.setdefault("attribution_window", ["The attribution window field must be an integer."])
            elif int(window) not in ATTRIBUTION_WINDOWS:
                errors.setdefault("attribution_window", ["The selected attribution window is invalid."])
        mode = get("query_mode") or "profile"
        if mode not in QUERY_MODES:
            errors.setdefault("query_mode", ["The selected query mode is invalid."])
        if fields and sources is None and any(f in TOUCHPOINT_FIELDS for f in fields):
            errors.setdefault("fields", ["Touchpoint fields require sources, attribution_model and attribution_window."])
        if errors:
            return None
        attribution = Attribution(sources, model, int(window)) if sources is not None else None
        if fields is None:
            fields = ALL_FIELDS if self.emu.faults.cometly_events_default_fields == "all" else MINIMAL_FIELDS
        if attribution is None:
            fields = [f for f in fields if f not in TOUCHPOINT_FIELDS]
        return names, attribution, tuple(fields), mode

    def _line(self, e, fields, attribution) -> bytes:
        return json.dumps(self.data.view(e, fields, attribution, self.emu.faults.cometly_event_ids),
                          ensure_ascii=False, separators=(",", ":")).encode()

    @staticmethod
    def _page_walk(rows, keys, lo, hi, cursor, newest: bool, per_page: int, match):
        """Up to per_page+1 matching rows of rows[lo:hi] in the served order, from the cursor position.

        cursor: None, or (key, forward) where forward=False walks back (a prev_cursor); the result is always in
        the served order. Returns (page, more_beyond)."""
        forward = True
        if cursor is not None:
            key, forward = cursor
            # Going "forward" in newest-first order means going down the ascending list.
            down = newest == forward
            if down:
                hi = min(hi, bisect.bisect_left(keys, key, lo, hi))
            else:
                lo = max(lo, bisect.bisect_right(keys, key, lo, hi))
        else:
            down = newest
        found = []
        rng = range(hi - 1, lo - 1, -1) if down else range(lo, hi)
        for i in rng:
            if match(rows[i]):
                found.append(rows[i])
                if len(found) > per_page:
                    break
        more = len(found) > per_page
        found = found[:per_page]
        if not forward:
            found.reverse()
        return found, more

    @staticmethod
    def _envelope(req, path: str, per_page: int, rows_json, page, more: bool, cursor, key_of) -> bytes:
        """Laravel's cursor envelope. next_cursor points past the page's last row; prev_cursor (null on the first
        page) before its first."""
        forward = cursor is None or cursor[1]
        query = [(k, v) for k, values in req.query_all.items() if k != "cursor" for v in values]

        def link(key, points_next):
            token = encode_token({"key": key, "_pointsToNextItems": points_next})
            return token, f"{path}?{urlencode(query + [('cursor', token)])}"
        next_cursor = next_url = prev_cursor = prev_url = None
        if page and (more if forward else True):
            next_cursor, next_url = link(key_of(page[-1]), True)
        if page and cursor is not None and (more if not forward else True):
            prev_cursor, prev_url = link(key_of(page[0]), False)
        meta = json.dumps({"path": path, "per_page": per_page, "next_cursor": next_cursor, "next_page_url": next_url,
                           "prev_cursor": prev_cursor, "prev_page_url": prev_url}, separators=(",", ":"))
        return b'{"data":[%s],%s' % (b",".join(rows_json), meta[1:].encode())

    @staticmethod
    def _per_page(raw, maximum: int, errors: dict) -> int:
        if raw is None:
            return DEFAULT_PER_PAGE
        if not re.fullmatch(r"-?\d+", str(raw)):
            errors.setdefault("per_page", ["The per page field must be an integer."])
            return DEFAULT_PER_PAGE
        value = int(raw)
        if not 1 <= value <= maximum:
            errors.setdefault("per_page", [f"The per page field must be between 1 and {maximum}."])
        return value

    @staticmethod
    def _cursor(raw, errors: dict):
        if raw in (None, ""):
            return None
        state = decode_token(raw)
        if not state or not isinstance(state.get("key"), int) or not isinstance(state.get("_pointsToNextItems"), bool):
            errors.setdefault("cursor", ["The cursor is invalid."])
            return None
        return state["key"], state["_pointsToNextItems"]

    # ------------------------------------------------------------ GET /events

    def events(self, req):
        limited, headers = self._throttle(self._events_window)
        if limited:
            return limited
        start, end = self.cometly._window(req.query)   # 422s for missing, malformed, end not after start
        errors = {}
        per_page = self._per_page(req.query.get("per_page"), EVENTS_MAX_PER_PAGE, errors)
        arrays = {n: self._query_array(req, n, errors) for n in ("event_names", "sources", "fields")}
        chosen = self._selection(req.query.get, arrays, errors)
        cursor = self._cursor(req.query.get("cursor"), errors)
        if errors:
            raise _unprocessable(errors)
        names, attribution, fields, mode = chosen
        f = self.emu.faults
        events, keys = self.data.snapshot()
        lo, hi = self.data.span(keys, int(start.timestamp()), int(end.timestamp()),
                                f.cometly_events_start_inclusive, f.cometly_events_end_inclusive)
        wanted = set(names) if names else None
        company = mode == "company"

        def match(e):
            return (wanted is None or e[4] in wanted) and (not company or e[3] is not None)
        newest = f.cometly_events_order != "oldest"
        page, more = self._page_walk(events, keys, lo, hi, cursor, newest, per_page, match)
        body = self._envelope(req, f"{req.base_url}{PREFIX}/events", per_page,
                              [self._line(e, fields, attribution) for e in page], page, more, cursor,
                              lambda e: (e[0] << 32) | e[1])
        return Response(200, body, headers=headers)

    # ------------------------------------------------------------ POST /events/exports, GET /events/exports/{id}

    def create_export(self, req):
        limited, headers = self._throttle(self._creates)
        if limited:
            return limited
        body = req.json()
        errors = {}
        if not isinstance(body, dict):
            raise _unprocessable({"date": ["The date field is required."]})
        day = body.get("date")
        if "start_date" in body or "end_date" in body:
            errors["date"] = ["An export covers one day (Maximum 1 day per export): send date as YYYY-MM-DD, "
                              "not start_date/end_date."]
        elif day in (None, ""):
            errors["date"] = ["The date field is required."]
        elif not isinstance(day, str) or not _DATE.match(day):
            errors["date"] = ["The date field must match the format Y-m-d."]
        else:
            try:
                date.fromisoformat(day)
            except ValueError:
                errors["date"] = ["The date field must be a valid date."]
        arrays = {n: self._body_array(body, n, errors) for n in ("event_names", "sources", "fields")}
        chosen = self._selection(body.get, arrays, errors)
        if errors:
            raise _unprocessable(errors)
        names, attribution, fields, mode = chosen
        job = self.emu.jobs.create(JOB_API, {
            "date": day, "event_names": tuple(names or ()), "fields": fields, "query_mode": mode,
            "attribution": attribution.key() if attribution else None,
            "order": self.emu.faults.cometly_events_order, "ids": self.emu.faults.cometly_event_ids,
        })
        job.build_file = self._build_file   # the shared file host builds each kind of export with its own builder
        with self._lock:
            export_id = next(self._export_ids)
            self._exports[export_id] = job
        job.export_id = export_id
        return json_response({"export_id": export_id, "status": "queued",
                              "message": "Export job created successfully. Use the export_id to check status."},
                             202, headers)

    def export_status(self, req):
        limited, headers = self._throttle(self._polls)
        if limited:
            return limited
        raw = req.params["export_id"]
        job = self._exports.get(int(raw)) if raw.isdigit() else None
        if job is None:
            return json_response({"message": "Export not found."}, 404, headers)
        phase = self.emu.jobs.poll(job)
        status = {"done": "completed", "failed": job.failure or "failed"}.get(phase, phase)
        out = {"export_id": job.export_id, "status": status, "created_at": fmt_s(job.created_at)}
        if phase in ("queued", "processing"):
            out["message"] = "Export is being processed. Please check back in a few minutes."
        elif phase == "failed":
            out["message"] = job.error or "Export failed. Please create a new export."
        else:
            ttl = int(self.emu.faults.download_url_ttl)
            out["completed_at"] = fmt_s(job.finished_at)
            out["download_url"] = self.cometly._presign(job, ttl)
            out["expires_at"] = fmt_s(utc_now() + timedelta(seconds=ttl))
        return json_response(out, 200, headers)

    def _build_file(self, job, broken_line: int | None = None) -> bytes:
        """gzip NDJSON of the day's events, 00:00:00-23:59:59 local inclusive; no events -> a valid gzip of nothing."""
        p = job.params
        first, last = self.data.local_day_bounds(date.fromisoformat(p["date"]))
        attribution = Attribution(*p["attribution"]) if p["attribution"] else None
        chosen = self.data.select(first, last, True, True, p["event_names"] or None, p["query_mode"])
        if p["order"] != "oldest":
            chosen.reverse()
        lines = [json.dumps(self.data.view(e, p["fields"], attribution, p["ids"]), ensure_ascii=False,
                            separators=(",", ":")).encode() for e in chosen]
        job.record_count = len(lines)
        if broken_line is not None:
            lines[broken_line - 1] = lines[broken_line - 1][: max(1, len(lines[broken_line - 1]) // 2)]
        return gzip.compress(b"".join(line + b"\n" for line in lines), compresslevel=5, mtime=0)

    # ------------------------------------------------------------ GET /companies

    def companies(self, req):
        limited, headers = self._throttle(self._companies_window)
        if limited:
            return limited
        errors, bounds = {}, {}
        for name in ("start_date", "end_date"):
            raw = req.query.get(name)
            if raw in (None, ""):
                continue
            try:
                bounds[name] = self.data.to_ts(raw)
            except ValueError:
                errors[name] = [f"The {_label(name)} field must match the format Y-m-d H:i:s."]
        if len(bounds) == 2 and bounds["end_date"] <= bounds["start_date"]:
            errors["end_date"] = ["The end date must be a date after start date."]
        per_page = self._per_page(req.query.get("per_page"), COMPANIES_MAX_PER_PAGE, errors)
        cursor = self._cursor(req.query.get("cursor"), errors)
        if errors:
            raise _unprocessable(errors)
        companies, keys = self.data.company_snapshot()
        lo = bisect.bisect_left(keys, bounds["start_date"] << 32) if "start_date" in bounds else 0
        hi = bisect.bisect_left(keys, (bounds["end_date"] + 1) << 32) if "end_date" in bounds else len(keys)
        page, more = self._page_walk(companies, keys, lo, hi, cursor, True, per_page, lambda c: True)
        rows = [json.dumps(self.data.company_view(c), separators=(",", ":")).encode() for c in page]
        body = self._envelope(req, f"{req.base_url}{PREFIX}/companies", per_page, rows, page, more, cursor,
                              lambda c: (c[0] << 32) | c[1])
        return Response(200, body, headers=headers)
