"""Cometly public API (prefix /public-api/v1): contacts with Laravel cursor pagination and the
async gzip-NDJSON export, whose files live on the second listener behind presigned URLs."""
from __future__ import annotations

import bisect
import gzip
import hashlib
import hmac
import json
import math
import threading
import time
import uuid
from collections import deque
from datetime import datetime, timedelta
from urllib.parse import urlencode

from .common import UTC, HttpError, Response, decode_token, encode_token, fmt_us, http_date, json_response, utc_now

API_KEY = "emu-cometly-key"
PREFIX = "/public-api/v1"
MAX_PER_PAGE = 5000
DEFAULT_PER_PAGE = 200           # the documented default
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# The documented per-space limits, per minute (the period is faults.rate_limit_period).
LIST_PER_MIN = 15
EXPORT_CREATE_PER_MIN = 5
EXPORT_STATUS_PER_MIN = 30
_SIGNING_KEY = b"emulated-s3-signing-key"


def _unprocessable(errors: dict) -> HttpError:
    first = next(iter(errors.values()))[0]
    return HttpError(json_response({"message": first, "errors": errors}, 422))


def _s3_error(status, code, message):
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>")
    return Response(status, body.encode(), "application/xml")


def _flag(value) -> bool:
    return str(value).lower() in ("1", "true")


class _Window:
    """Sliding-window request counter for one documented rate limit (`limit` calls a `period`)."""

    def __init__(self, limit):
        self.limit, self.hits, self.lock = limit, deque(), threading.Lock()

    def retry_after(self, period: float) -> int:
        """0 if the call is allowed (and counts it), else whole seconds until a slot frees up.

        A refused call is not counted, as Laravel's throttle does."""
        now = time.monotonic()
        with self.lock:
            while self.hits and now - self.hits[0] >= period:
                self.hits.popleft()
            if len(self.hits) >= self.limit:
                return max(1, math.ceil(period - (now - self.hits[0])))
            self.hits.append(now)
            return 0


class Cometly:
    def __init__(self, emu):
        self.emu = emu
        self.data = emu.data
        self._lists = _Window(LIST_PER_MIN)
        self._creates = _Window(EXPORT_CREATE_PER_MIN)
        self._polls = _Window(EXPORT_STATUS_PER_MIN)
        self._signatures = {}   # signature -> (file id, monotonic expiry)

    def register(self, router):
        for method, pattern, handler in [
            ("GET", PREFIX + r"/contacts", self.contacts),
            ("POST", PREFIX + r"/contacts/exports", self.create_export),
            ("GET", PREFIX + r"/contacts/exports/(?P<export_id>[^/]+)", self.export_status),
        ]:
            router.add(method, pattern, self._authed(handler))

    def register_files(self, router):
        router.add("GET", r"/exports/(?P<file_id>[^/]+)\.ndjson\.gz", self.download)

    def _authed(self, handler):
        def wrapper(req):
            if req.headers.get("Authorization") != f"Bearer {self.emu.cometly_api_key}":
                return json_response({"message": "Unauthenticated."}, 401)
            return handler(req)
        return wrapper

    def _limited(self, window: _Window):
        if not self.emu.faults.enforce_rate_limits:
            return None
        wait = window.retry_after(self.emu.faults.rate_limit_period)
        if wait:
            retry_after = http_date(wait) if self.emu.faults.retry_after_as_date else str(wait)
            return json_response({"message": "Too Many Attempts."}, 429,
                                 {"Retry-After": retry_after, "X-RateLimit-Limit": str(window.limit),
                                  "X-RateLimit-Remaining": "0"})
        return None

    # ------------------------------------------------------------ shared validation

    def _window(self, source: dict):
        """Validate start/end ('YYYY-MM-DD HH:MM:SS', space timezone) -> (start_utc, end_utc)."""
        errors, parsed = {}, {}
        for name in ("start_date", "end_date"):
            label = name.replace("_", " ")
            raw = source.get(name)
            if raw in (None, ""):
                errors[name] = [f"The {label} field is required."]
                continue
            try:
                parsed[name] = datetime.strptime(str(raw), DATE_FORMAT)
            except ValueError:
                errors[name] = [f"The {label} field must match the format Y-m-d H:i:s."]
        if not errors and parsed["end_date"] <= parsed["start_date"]:
            errors["end_date"] = ["The end date must be a date after start date."]
        if errors:
            raise _unprocessable(errors)
        tz = self.data.cometly_tz
        return tuple(parsed[n].replace(tzinfo=tz).astimezone(UTC) for n in ("start_date", "end_date"))

    def _line(self, contact, tokens: bool, emails: bool, store: bool = True, custom_fields: bool = False) -> bytes:
        """Compact JSON of one contact as both the list endpoint and the export file show it."""
        def view():
            out = {k: v for k, v in contact.items() if k not in ("comet_tokens", "all_emails", "profile_fields")}
            if tokens:
                out["comet_tokens"] = contact["comet_tokens"]
            if emails:
                out["all_emails"] = contact["all_emails"]
            if custom_fields:
                out.update(contact["profile_fields"])
            return out
        return self.data.encoded(("cometly", contact["id"], tokens, emails, custom_fields), view, store)

    # ------------------------------------------------------------ list

    def contacts(self, req):
        limited = self._limited(self._lists)
        if limited:
            return limited
        start, end = self._window(req.query)
        try:
            per_page = int(req.query.get("per_page", DEFAULT_PER_PAGE))
        except ValueError:
            raise _unprocessable({"per_page": ["The per page field must be an integer."]})
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise _unprocessable({"per_page": [f"The per page field must be between 1 and {MAX_PER_PAGE}."]})
        tokens, emails = _flag(req.query.get("include_comet_tokens", 0)), _flag(req.query.get("include_all_emails", 0))
        custom_fields = _flag(req.query.get("include_custom_fields", 0))
        keys, ordered = self.data.cometly_sorted()
        # One consistent snapshot; both ends inclusive unless faults.bounds says otherwise.
        lo, hi = self.data.cometly_range(start, end, keys, self.emu.faults.readings("inclusive", "inclusive"))
        if req.query.get("cursor"):
            # Laravel cursors hold only the position (the last row's sort key), so the client
            # must resend the filters; next_page_url carries them.
            pos = decode_token(req.query["cursor"])
            if not pos or "created_at" not in pos or "id" not in pos:
                raise _unprocessable({"cursor": ["The cursor is invalid."]})
            lo = max(lo, bisect.bisect_right(keys, (pos["created_at"], pos["id"]), lo, hi))
        page = ordered[lo:min(hi, lo + per_page)]
        path = f"{req.base_url}{PREFIX}/contacts"
        next_cursor = next_url = None
        if self.emu.faults.take_repeat_link(req):   # this very page again: its own cursor, or one before the first row
            next_cursor = req.query.get("cursor") or encode_token({"created_at": "", "id": -1, "_pointsToNextItems": True})
        elif lo + per_page < hi:
            last = page[-1]
            next_cursor = encode_token({"created_at": last["created_at"], "id": last["id"], "_pointsToNextItems": True})
        if next_cursor:
            query = {k: v for k, v in req.query.items() if k != "cursor"}
            next_url = self.emu.faults.link(req, f"{path}?{urlencode({**query, 'cursor': next_cursor})}")
        meta = json.dumps({"path": path, "per_page": per_page, "next_cursor": next_cursor,
                           "next_page_url": next_url, "prev_cursor": None, "prev_page_url": None},
                          separators=(",", ":"))
        body = b'{"data":[%s],%s' % (b",".join(self._line(c, tokens, emails, custom_fields=custom_fields) for c in page), meta[1:].encode())
        return Response(200, body)

    # ------------------------------------------------------------ export

    def create_export(self, req):
        limited = self._limited(self._creates)
        if limited:
            return limited
        body = req.json()
        if not isinstance(body, dict):
            raise _unprocessable({"start_date": ["The start date field is required."]})
        start, end = self._window(body)
        job = self.emu.jobs.create("cometly", {
            "start": start, "end": end, "readings": self.emu.faults.readings("inclusive", "inclusive"),
            "tokens": _flag(body.get("include_comet_tokens", 0)), "emails": _flag(body.get("include_all_emails", 0)),
        })
        return json_response({"export_id": job.id, "status": "queued",
                              "message": "Export job created successfully. Use the export_id to check status."},
                             202)

    def export_status(self, req):
        limited = self._limited(self._polls)
        if limited:
            return limited
        job = self.emu.jobs.get(req.params["export_id"])
        if job is None or job.api != "cometly":
            return json_response({"message": "Export not found."}, 404)
        phase = self.emu.jobs.poll(job)
        # A failure state the docs do not list (fail_next_jobs(state="cancelled")) is served as is, for ever.
        status = {"done": "completed", "failed": job.failure or "failed"}.get(phase, phase)
        out = {"export_id": job.id, "status": status, "created_at": fmt_us(job.created_at)}
        if status in ("queued", "processing"):
            out["message"] = "Export is being processed. Please check back in a few minutes."
        elif status == "failed":
            out["message"] = "Export failed. Please create a new export."
            out["error"] = job.error or "Export processing failed (emulated)."
        elif phase == "failed":
            out["message"] = f"Export {status}."
        else:
            ttl = int(self.emu.faults.download_url_ttl)
            out["completed_at"] = fmt_us(job.finished_at)
            out["download_url"] = self._presign(job, ttl)
            out["expires_at"] = fmt_us(utc_now() + timedelta(seconds=ttl))
        return json_response(out)

    def _presign(self, job, ttl: int) -> str:
        """A fresh S3-style presigned URL on the file host (every call gives a new signature)."""
        amz_date = utc_now().strftime("%Y%m%dT%H%M%SZ")
        nonce = uuid.uuid4().hex
        signature = hmac.new(_SIGNING_KEY, f"{job.file_id}|{amz_date}|{nonce}".encode(), hashlib.sha256).hexdigest()
        self._signatures[signature] = (job.file_id, time.monotonic() + ttl)
        query = urlencode({"X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                           "X-Amz-Credential": f"EMU{nonce[:12].upper()}/{amz_date[:8]}/us-east-1/s3/aws4_request",
                           "X-Amz-Date": amz_date, "X-Amz-Expires": ttl, "X-Amz-SignedHeaders": "host",
                           "X-Amz-Signature": signature})
        return f"{self.emu.files_url}/exports/{job.file_id}.ndjson.gz?{query}"

    # ------------------------------------------------------------ file host

    def download(self, req):
        if "Authorization" in req.headers:
            return _s3_error(400, "InvalidArgument",
                             "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                             "Signature query string parameter or the Authorization header should be specified")
        file_id = req.params["file_id"]
        signed = self._signatures.get(req.query.get("X-Amz-Signature", ""))
        if signed is None or signed[0] != file_id:
            return _s3_error(403, "SignatureDoesNotMatch",
                             "The request signature we calculated does not match the signature you provided.")
        if self.emu.faults.take_expired_download() or time.monotonic() >= signed[1]:
            return _s3_error(403, "AccessDenied", "Request has expired")
        job = self.emu.jobs.by_file(file_id)
        build = getattr(job, "build_file", self._build_file)   # event exports bring their own (cometly_events.py)
        blob = self.emu.jobs.file_bytes(job, build)
        n_lines = job.record_count
        broken = self.emu.faults.take_malformed_line(n_lines)
        if broken is not None:
            blob = build(job, broken)
        blob = self.emu.faults.export_file_body(blob)   # empty, uncompressed or truncated files
        return Response(200, blob, "application/x-gzip", {"ETag": f'"{hashlib.md5(blob).hexdigest()}"'})

    def _build_file(self, job, broken_line: int | None = None) -> bytes:
        p = job.params
        contacts = self.data.cometly_between(p["start"], p["end"], p.get("readings", ("inclusive", "inclusive")))
        lines = [self._line(c, p["tokens"], p["emails"], store=False) for c in contacts]
        job.record_count = len(lines)
        if broken_line is not None:
            lines[broken_line - 1] = lines[broken_line - 1][: max(1, len(lines[broken_line - 1]) // 2)]
        raw = self.emu.faults.restamp(b"".join(line + b"\n" for line in lines))
        return gzip.compress(raw, compresslevel=5, mtime=0)

