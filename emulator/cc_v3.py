"""Constant Contact API v3 (prefix /v3) and its OAuth token endpoint (/oauth2/default/v1/token).

Refresh tokens rotate (single use); access tokens expire after `faults.access_token_ttl` seconds.
"""
from __future__ import annotations

import base64
import bisect
import json
import threading
import time
import uuid
from datetime import timedelta, timezone
from urllib.parse import parse_qs

from .common import (HttpError, Response, csv_file, decode_token, encode_token, fmt_ms, fmt_s, from_utc_stamp,
                     json_response, parse_iso, self_href)

CLIENT_ID = "emu-client-id"
CLIENT_SECRET = "emu-client-secret"
INCLUDES = ("custom_fields", "list_memberships", "phone_numbers", "street_addresses", "taggings", "notes")
SUB_RESOURCES = set(INCLUDES)
STATUS_FILTERS = {"all", "active", "unsubscribed", "deleted", "removed"}
EXPORT_STATUSES = ("active", "unsubscribed", "removed")
CSV_TZ = timezone(timedelta(hours=-5))   # the account's offset used for dates inside CSV exports
# Constant Contact allows an application 4 calls a second and 10,000 a day (the day ends at 00:00 UTC).
RATE_LIMIT_MESSAGES = {"throttled": "Too many requests in a second: slow down.",
                       "quota_exceeded": "The daily request quota of this application is spent."}


class OAuth:
    """Token bookkeeping: one current refresh token at a time, each usable once."""

    def __init__(self, faults):
        self._faults = faults
        self._lock = threading.Lock()
        self._refresh = {self._new("rt")}
        self.current_refresh_token = next(iter(self._refresh))
        self._access = {}   # token -> monotonic expiry

    @staticmethod
    def _new(kind):
        return f"emu-{kind}-{uuid.uuid4().hex}"

    def issue_access_token(self) -> str:
        token = self._new("at")
        with self._lock:
            self._access[token] = time.monotonic() + float(self._faults.access_token_ttl)
        return token

    def expire_access_tokens(self) -> None:
        """End the life of every access token issued so far, as if their TTL had just run out."""
        with self._lock:
            self._access = dict.fromkeys(self._access, 0.0)

    def access_valid(self, token: str) -> bool:
        expiry = self._access.get(token)
        return expiry is not None and time.monotonic() < expiry

    def rotate(self, refresh_token: str) -> tuple[str, str] | None:
        """Spend a refresh token; returns (access, new refresh) or None if unknown/used."""
        with self._lock:
            if refresh_token not in self._refresh:
                return None
            self._refresh.discard(refresh_token)
            new = self._new("rt")
            self._refresh.add(new)
            self.current_refresh_token = new
        return self.issue_access_token(), new


def _err(status, key, message):
    return json_response({"error_key": key, "error_message": message}, status)


def _bad(message):
    return HttpError(_err(400, "query.param.invalid", message))


def _int_param(req, name, default, lo, hi):
    try:
        value = int(req.query.get(name, default))
    except ValueError:
        raise _bad(f"{name} must be an integer")
    if not lo <= value <= hi:
        raise _bad(f"{name} must be between {lo} and {hi}")
    return value


# ---------------------------------------------------------------- CSV export columns

def _csv_date(iso: str | None, long_form: bool) -> str:
    """Render an RFC 3339 UTC stamp the two ways the real export does, e.g.
    `2018-11-29 15:10:15 -0500` and `2019-11-25T16:29:13.000 -0500`."""
    if not iso:
        return ""
    dt = from_utc_stamp(iso).astimezone(CSV_TZ)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000 %z") if long_form else dt.strftime("%Y-%m-%d %H:%M:%S %z")


def _first(key, field):
    return lambda c, ctx: c[key][0][field] if c[key] else ""


def _anniversary(contact, ctx) -> str:
    """The contact's anniversary (YYYY-MM-DD) in a form the v3 docs accept for it, M/D/YYYY."""
    year, month, day = contact["anniversary"].split("-") if contact.get("anniversary") else ("", "", "")
    return f"{int(month)}/{int(day)}/{year}" if year else ""


def _birthday(contact, ctx) -> str:
    """v3 keeps a birthday as a month and a day, no year: M/D."""
    return f"{contact['birthday_month']}/{contact['birthday_day']}" if contact.get("birthday_month") else ""


# Field name -> (header label, getter(contact, ctx)); dict order is the server's column order. Custom fields come
# after Notes, under their labels.
EXPORT_COLUMNS = {
    "first_name": ("First name", lambda c, ctx: c["first_name"]),
    "last_name": ("Last name", lambda c, ctx: c["last_name"]),
    "email_address": ("Email address - other", lambda c, ctx: c["email_address"]["address"]),
    "email_permission": ("Email permission", lambda c, ctx: c["email_address"]["permission_to_send"]),
    "email_optin": ("Email optin", lambda c, ctx: ""),
    "email_optin_source": ("Email optin source", lambda c, ctx: c["email_address"]["opt_in_source"]),
    "email_optin_date": ("Email optin date",
                         lambda c, ctx: _csv_date(c["email_address"].get("opt_in_date"), ctx["long"])),
    "email_optout_source": ("Email optout source", lambda c, ctx: c["email_address"].get("opt_out_source", "")),
    "email_optout_date": ("Email optout date",
                          lambda c, ctx: _csv_date(c["email_address"].get("opt_out_date"), ctx["long"])),
    "email_optout_reason": ("Email optout reason", lambda c, ctx: ""),
    "phone_number": ("Phone number - home", _first("phone_numbers", "phone_number")),
    "company_name": ("Company Name", lambda c, ctx: c["company_name"]),
    "job_title": ("Job Title", lambda c, ctx: c["job_title"]),
    "website": ("Website", lambda c, ctx: ""),
    "social_profiles": ("Social profiles", lambda c, ctx: ""),
    "street": ("Street - home", _first("street_addresses", "street")),
    "city": ("City - home", _first("street_addresses", "city")),
    "state": ("State - home", _first("street_addresses", "state")),
    "zip": ("Zip - home", _first("street_addresses", "postal_code")),
    "country": ("Country - home", _first("street_addresses", "country")),
    "birthday": ("Birthday", _birthday),
    "birthday_month": ("Birthday month", lambda c, ctx: str(c.get("birthday_month") or "")),
    "birthday_day": ("Birthday day", lambda c, ctx: str(c.get("birthday_day") or "")),
    "anniversary": ("Anniversary", _anniversary),
    "email_lists": ("Email lists", lambda c, ctx: ", ".join(ctx["list_names"][lid] for lid in c["list_memberships"])),
    "notes": ("Notes", _first("notes", "content")),
    "source_name": ("Source name", lambda c, ctx: c["create_source"]),
    "created_at": ("Created At", lambda c, ctx: _csv_date(c["created_at"], ctx["long"])),
    "updated_at": ("Updated At", lambda c, ctx: _csv_date(c["updated_at"], ctx["long"])),
}


class CcV3:
    def __init__(self, emu):
        self.emu = emu
        self.data = emu.data
        self.oauth = OAuth(emu.faults)

    def register(self, router):
        router.add("POST", r"/oauth2/default/v1/token", self.token)
        for method, pattern, handler in [
            ("GET", r"/v3/account/summary", self.account_summary),
            ("GET", r"/v3/contact_lists", self.contact_lists),
            ("GET", r"/v3/contacts", self.contacts),
            ("GET", r"/v3/contact_custom_fields", self.custom_fields),
            ("GET", r"/v3/contact_tags", self.tags),
            ("GET", r"/v3/segments", self.segments),
            ("GET", r"/v3/emails", self.campaigns),
            ("GET", r"/v3/reports/summary_reports/email_campaign_summaries", self.campaign_summaries),
            ("POST", r"/v3/activities/contact_exports", self.create_export),
            ("GET", r"/v3/activities/(?P<activity_id>[^/]+)", self.activity),
            ("GET", r"/v3/contact_exports/(?P<file_id>[^/]+)", self.export_file),
        ]:
            router.add(method, pattern, self._authed(handler))

    def _authed(self, handler):
        def wrapper(req):
            auth = req.headers.get("Authorization") or ""
            if not auth.startswith("Bearer ") or not self.oauth.access_valid(auth[7:]):
                return _err(401, "unauthorized", "Unauthorized")
            refusal = self.emu.faults.take_cc_refusal("cc_v3")
            if refusal:   # no Retry-After: the error_key says whether to slow down or stop for the day
                return _err(429, refusal, RATE_LIMIT_MESSAGES[refusal])
            return handler(req)
        return wrapper

    # ------------------------------------------------------------ OAuth

    def token(self, req):
        fault = self.emu.faults.take_token_fault()   # answered before the refresh token is spent
        if fault:
            return fault
        client = f"{self.emu.v3_client_id}:{self.emu.v3_client_secret}"
        expected = "Basic " + base64.b64encode(client.encode()).decode()
        if req.headers.get("Authorization") != expected:
            return json_response({"error": "invalid_client",
                                  "error_description": "Client authentication failed."}, 401)
        form = {k: v[-1] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "refresh_token":
            return json_response({"error": "unsupported_grant_type",
                                  "error_description": "The authorization grant type is not supported."}, 400)
        if not form.get("refresh_token"):
            return json_response({"error": "invalid_request",
                                  "error_description": "The refresh_token parameter is required."}, 400)
        pair = self.oauth.rotate(form["refresh_token"])
        if pair is None:
            return json_response({"error": "invalid_grant",
                                  "error_description": "The refresh token is invalid or expired."}, 400)
        access, refresh = pair
        return json_response({"token_type": "Bearer", "expires_in": int(self.emu.faults.access_token_ttl),
                              "access_token": access, "scope": "contact_data offline_access",
                              "refresh_token": refresh}, headers={"Cache-Control": "no-store"})

    # ------------------------------------------------------------ reads

    def account_summary(self, req):
        return json_response({"encoded_account_id": "a07e1emu1234", "first_name": "Erin", "last_name": "Mulator",
                              "contact_email": "owner@example.com", "contact_phone": "555-555-0100",
                              "country_code": "US", "state_code": "MA", "organization_name": "Emulated Flowers, Inc.",
                              "time_zone_id": "America/New_York", "website": "https://www.example.com"})

    def _page(self, req, path, rows, max_limit, default_limit=50, filters=lambda req: {}):
        """One page of `rows(state)` and the `_links` that lead to the next. The first page reads `limit` and the
        `filters` from the query; the next page's href carries them in an opaque cursor."""
        token = req.query.get("cursor")
        if token:
            state = decode_token(token)
            if not state or "offset" not in state:
                raise _bad("cursor is invalid")
        else:
            state = {"limit": _int_param(req, "limit", default_limit, 1, max_limit), "offset": 0, **filters(req)}
        with self.data.lock:
            selected = [dict(row) for row in rows(state)]
        offset, limit = state["offset"], state["limit"]
        href = None
        if offset + limit < len(selected):
            href = f"{path}?cursor={encode_token({**state, 'offset': offset + limit})}"
        href = self._next_href(req, href)
        return selected[offset:offset + limit], {"_links": {"next": {"href": href}}} if href else {}

    def _next_href(self, req, href):
        """The next link as handed out: the request's own page under repeat_next_link, on another host under
        foreign_links."""
        if self.emu.faults.take_repeat_link(req):
            href = self_href(req)
        return self.emu.faults.link(req, href)

    def custom_fields(self, req):
        page, links = self._page(req, "/v3/contact_custom_fields", lambda state: self.data.cc_v3_custom_fields, 100)
        return json_response({"custom_fields": page, **links})

    def tags(self, req):
        def rows(state):
            if not state["include_count"]:
                return self.data.cc_v3_tags
            counts = self.data.v3_tag_counts()
            return [{**tag, "contacts_count": counts[tag["tag_id"]]} for tag in self.data.cc_v3_tags]

        def include_count(req):
            value = req.query.get("include_count", "false")
            if value not in ("true", "false"):
                raise _bad("include_count must be true or false")
            return {"include_count": value == "true"}

        page, links = self._page(req, "/v3/contact_tags", rows, 500, filters=include_count)
        return json_response({"tags": page, **links})

    def segments(self, req):
        def sort_by(req):
            value = req.query.get("sort_by", "date")
            if value not in ("date", "name"):
                raise _bad("sort_by must be date or name")
            return {"sort_by": value}

        def rows(state):   # by date: the most recently edited first; by name: ascending
            if state["sort_by"] == "name":
                return sorted(self.data.cc_v3_segments, key=lambda s: (s["name"], s["segment_id"]))
            return sorted(self.data.cc_v3_segments, key=lambda s: (s["edited_at"], s["segment_id"]), reverse=True)

        page, links = self._page(req, "/v3/segments", rows, 1000, default_limit=1000, filters=sort_by)
        return json_response({"segments": page, **links})

    def campaigns(self, req):
        """Every campaign, Removed (deleted) ones included, the most recently updated first; after_date and
        before_date bound updated_at (both inclusive here unless faults.bounds says otherwise)."""
        def dates(req):   # as campaign stamps (milliseconds), to compare as strings
            parsed = {name: self._date_param(req, name) for name in ("after_date", "before_date")}
            return {**{name: dt and fmt_ms(dt) for name, dt in parsed.items()},
                    "readings": self.emu.faults.readings("inclusive", "inclusive")}

        def rows(state):
            after, before, readings = state["after_date"], state["before_date"], tuple(state["readings"])
            chosen = [c for c in self.data.cc_v3_campaigns
                      if self.emu.faults.in_bounds(c["updated_at"], after, before, readings)]
            return sorted(chosen, key=lambda c: (c["updated_at"], c["campaign_id"]), reverse=True)

        page, links = self._page(req, "/v3/emails", rows, 500, filters=dates)
        return json_response({"campaigns": page, **links})

    def campaign_summaries(self, req):
        def rows(state):   # the most recently sent first
            return sorted(self.data.cc_v3_campaign_summaries, key=lambda s: (s["last_sent_date"], s["campaign_id"]),
                          reverse=True)

        page, links = self._page(req, "/v3/reports/summary_reports/email_campaign_summaries", rows, 500)
        return json_response({"bulk_email_campaign_summaries": page,
                              "aggregate_percents": self._aggregate_percents(page), **links})

    @staticmethod
    def _aggregate_percents(summaries):
        """The page's rates, in percent of its sends, as the report's aggregate_percents."""
        sends = sum(s["unique_counts"]["sends"] for s in summaries) or 1
        rates = {"click": "clicks", "open": "opens", "did_not_open": "not_opened", "bounce": "bounces",
                 "unsubscribe": "optouts"}
        return {rate: round(100 * sum(s["unique_counts"][count] for s in summaries) / sends, 1)
                for rate, count in rates.items()}

    @staticmethod
    def _date_param(req, name):
        """A date-time query parameter as an aware UTC datetime, or None when absent; a 400 when it does not parse."""
        raw = req.query.get(name)
        if not raw:
            return None
        dt = parse_iso(raw)
        if dt is None:
            raise _bad(f"{name} must be an ISO-8601 date-time")
        return dt

    def contact_lists(self, req):
        page, links = self._page(req, "/v3/contact_lists", lambda state: self.data.cc_v3_lists, 1000)
        return json_response({"lists": page, "lists_count": len(self.data.cc_v3_lists), **links})

    def contacts(self, req):
        token = req.query.get("cursor")
        if token:
            state = decode_token(token)
            if not state or "after" not in state:
                raise _bad("cursor is invalid")
        else:
            # `*_after` bounds are inclusive, `*_before` bounds exclusive, unless faults.bounds says otherwise.
            readings = self.emu.faults.readings("inclusive", "exclusive")
            state = {"limit": _int_param(req, "limit", 50, 1, 500), "after": None,
                     "include": self._includes(req), "status": req.query.get("status") or "all", "readings": {}}
            for key, name, side in (("since", "updated_after", 0), ("until", "updated_before", 1),
                                    ("optout_after", "optout_after", 0), ("optout_before", "optout_before", 1)):
                state[key], state["readings"][key] = self._stamp_param(req, name, side, readings[side])
            if state["status"] not in STATUS_FILTERS:
                raise _bad("status is invalid")
        keys, ordered = self.data.v3_sorted()
        # Keyset position: first contact after the last one served (or at/after updated_after).
        if state["after"]:
            start = bisect.bisect_right(keys, tuple(state["after"]))
        elif state["since"]:
            start = bisect.bisect_left(keys, (state["since"], ""))
        else:
            start = 0
        wanted = self._filter(state)
        low, high = self._readings(state, "since"), ("inclusive", self._readings(state, "until")[1])
        page, more = [], False
        for contact in ordered[start:]:
            if not self.emu.faults.in_bounds(contact["updated_at"], None, state.get("until"), high):
                break
            if not self.emu.faults.in_bounds(contact["updated_at"], state["since"], None, low) or not wanted(contact):
                continue
            if len(page) == state["limit"]:
                more = True
                break
            page.append(contact)
        total = self._count(keys, ordered, state)
        include = tuple(state["include"])
        parts = [self.data.encoded(("v3c", c["contact_id"], include), lambda c=c: self._view(c, include))
                 for c in page]
        href = None
        if more:
            href = "/v3/contacts?cursor=" + encode_token({**state, "after": [page[-1]["updated_at"], page[-1]["contact_id"]]})
        href = self._next_href(req, href)
        links = b', "_links": {"next": {"href": %s}}' % json.dumps(href).encode() if href else b""
        body = b'{"contacts": [%s], "contacts_count": %d%s}' % (b", ".join(parts), total, links)
        return Response(200, body)

    @staticmethod
    def _readings(state, key):
        """(after, before) readings for the bound `key` of a /contacts state (older cursors: the defaults)."""
        reading = (state.get("readings") or {}).get(key)
        return (reading or "inclusive", reading or "exclusive")

    def _count(self, keys, ordered, state):
        readings = (self._readings(state, "since")[0], self._readings(state, "until")[1])
        start, end = self.emu.faults.bounds_slice(keys, state["since"], state.get("until"), readings)
        if state["status"] == "all" and not (state.get("optout_after") or state.get("optout_before")):
            return end - start
        wanted = self._filter(state)
        return sum(1 for c in ordered[start:end] if wanted(c))

    def _filter(self, state):
        """The status test, and the opt-out date window when one is asked for."""
        wanted = self._status_test(state["status"])
        low, high = state.get("optout_after"), state.get("optout_before")
        if not (low or high):
            return wanted

        readings = (self._readings(state, "optout_after")[0], self._readings(state, "optout_before")[1])

        def opted_out_in_window(contact):
            date = contact["email_address"].get("opt_out_date")
            return bool(date) and self.emu.faults.in_bounds(date, low, high, readings) and wanted(contact)
        return opted_out_in_window

    def _status_test(self, status):
        if status == "all":
            return lambda c: True
        target = "removed" if status in ("deleted", "removed") else status
        return lambda c: self.data.v3_status(c) == target

    def _stamp_param(self, req, name, side: int = 0, reading: str = "inclusive"):
        """A date-time query parameter as the stored whole-second form (or None when absent) and the reading of
        that bound (`side` 0: a lower bound, 1: an upper one)."""
        dt = self._date_param(req, name)
        if dt is None:
            return None, reading
        if dt.microsecond:   # stored stamps are whole seconds: > or >= 12.5 means >= 13, < or <= 12.5 means < 13
            dt = dt.replace(microsecond=0) + timedelta(seconds=1)
            reading = "exclusive" if side else "inclusive"
        return fmt_s(dt), reading

    @staticmethod
    def _includes(req):
        raw = req.query.get("include") or ""
        names = [n.strip() for n in raw.split(",") if n.strip()]
        unknown = [n for n in names if n not in SUB_RESOURCES]
        if unknown:
            raise _bad(f"include has unknown values: {unknown}")
        return [n for n in INCLUDES if n in names]

    @staticmethod
    def _view(contact, include):
        return {k: v for k, v in contact.items() if k not in SUB_RESOURCES or k in include}

    # ------------------------------------------------------------ export

    def create_export(self, req):
        body = req.json()
        if not isinstance(body, dict):
            return _err(400, "json.payload.invalid", "Request body must be a JSON object")
        list_ids = body.get("list_ids")
        if list_ids is not None and (not isinstance(list_ids, list) or len(list_ids) > 50):
            return _err(400, "json.field.list_ids.invalid", "list_ids must be an array of at most 50 ids")
        contact_ids = body.get("contact_ids")
        if contact_ids is not None and (not isinstance(contact_ids, list) or len(contact_ids) > 500):
            return _err(400, "json.field.contact_ids.invalid", "contact_ids must be an array of at most 500 ids")
        status = body.get("status")
        if status is not None and status not in EXPORT_STATUSES:
            return _err(400, "json.field.status.invalid", f"status must be one of {list(EXPORT_STATUSES)}")
        fields = body.get("fields")
        if fields is not None and not isinstance(fields, list):
            return _err(400, "json.field.fields.invalid", "fields must be an array")
        exclude = body.get("exclude")
        if exclude is not None and (not isinstance(exclude, list) or contact_ids is not None):
            return _err(400, "json.field.exclude.invalid", "exclude must be an array of contact ids, without contact_ids")
        job = self.emu.jobs.create("cc_v3", {"list_ids": list_ids, "contact_ids": contact_ids,
                                             "status": status, "fields": fields, "exclude": exclude})
        known = {lst["list_id"] for lst in self.data.cc_v3_lists}
        bad = [lid for lid in list_ids or [] if lid not in known]
        if bad:   # like the real API: accepted now, the activity fails when processed
            job.error = f"List ids not found: {', '.join(map(str, bad))}"
        return json_response(self._activity_body(job, "queued"), 201)

    def _activity_body(self, job, phase):
        state = {"queued": "initialized", "processing": "processing", "done": "completed"}.get(phase)
        state = state or job.failure or "failed"
        body = {"activity_id": job.id, "state": state, "created_at": fmt_s(job.created_at),
                "updated_at": fmt_s(job.finished_at or job.started_at or job.created_at),
                "percent_done": {"initialized": 0, "processing": 50}.get(state, 100),
                "activity_errors": [],
                "_links": {"self": {"href": f"/v3/activities/{job.id}"},
                           "results": {"href": f"/v3/contact_exports/{job.file_id}"}}}
        if state == "completed":
            if job.record_count is None:   # counted once; the file itself is built on download
                job.record_count = len(self.export_contacts(job.params))
            n = job.record_count
            body["status"] = {"items_total_count": n, "items_completed_count": n}
        elif phase == "failed":
            body["activity_errors"] = [{"message": job.error or f"Export activity {state} (emulated)"}]
        return body

    def activity(self, req):
        job = self.emu.jobs.get(req.params["activity_id"])
        if job is None or job.api != "cc_v3":
            return _err(404, "not.found", "Activity not found")
        return json_response(self._activity_body(job, self.emu.jobs.poll(job)))

    def export_contacts(self, params) -> list[dict]:
        return self.emu.jobs.reused(("contacts", "cc_v3", params), lambda: self._export_contacts(params))

    def _export_contacts(self, params) -> list[dict]:
        excluded = set(params.get("exclude") or [])
        return [c for c in self.data.v3_export_contacts(params.get("list_ids"), params.get("status"),
                                                        params.get("contact_ids")) if c["contact_id"] not in excluded]

    def export_file(self, req):
        job = self.emu.jobs.by_file(req.params["file_id"])
        if job is None or job.api != "cc_v3" or job.phase != "done":
            return _err(404, "not.found", "Export file not found")
        contacts = self.export_contacts(job.params)
        faults = self.emu.faults.take_csv_faults("cc_v3", len(contacts))
        if faults:
            return Response(200, self._csv(job.params, contacts, faults), "text/csv; charset=UTF-8")
        blob = self.emu.jobs.file_bytes(job, lambda j: self._csv(j.params, contacts))
        return Response(200, blob, "text/csv; charset=UTF-8")

    def _columns(self, fields):
        """(label, getter) pairs in server order; unknown requested fields are silently dropped. Without `fields`
        every column, custom fields included (after Notes, under their labels)."""
        wanted = None if fields is None else set(fields)
        custom = [(f["label"], self._custom_value(f["custom_field_id"])) for f in self.data.cc_v3_custom_fields
                  if wanted is None or f["name"] in wanted]
        cols = []
        for name, (label, get) in EXPORT_COLUMNS.items():
            if wanted is None or name in wanted:
                cols.append((label, get))
            if name == "notes":
                cols += custom
        return cols

    @staticmethod
    def _custom_value(custom_field_id):
        return lambda c, ctx: next((cf["value"] for cf in c["custom_fields"] if cf["custom_field_id"] == custom_field_id), "")

    def _csv(self, params, contacts, faults: dict | None = None) -> bytes:
        cols = self._columns(params.get("fields"))
        ctx = {"list_names": {lst["list_id"]: lst["name"] for lst in self.data.cc_v3_lists}, "long": False}
        rows = [[label for label, _ in cols]]
        for contact in contacts:
            ctx["long"] = int(contact["contact_id"][-1], 16) % 2 == 1   # mix both date spellings
            rows.append([get(contact, ctx) for _, get in cols])
        # The real export starts with a UTF-8 byte order mark.
        return csv_file(rows, faults or {}, long_column="Notes", name_column="First name", bom=True)
