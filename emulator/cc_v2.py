"""Constant Contact API v2 (prefix /v2): lists, list membership with next_link paging, bulk CSV export.

Auth on every endpoint, export file included: query `api_key` plus `Authorization: Bearer <token>`.
"""
from __future__ import annotations

import bisect
import json

from .cc_v3 import RATE_LIMIT_MESSAGES
from .common import (HttpError, Response, csv_file, decode_token, encode_token, fmt_ms, json_response, parse_iso,
                     self_href)

API_KEY = "emu-v2-api-key"
ACCESS_TOKEN = "emu-v2-access-token"
MAX_LIMIT = 500

SYSTEM_LISTS = {"active": "ACTIVE", "opted-out": "OPTOUT", "removed": "REMOVED"}


def _address(field):
    return lambda c: c["addresses"][0][field] if c["addresses"] else ""


def _custom(n):
    name = f"CustomField{n}"
    return lambda c: next((f["value"] for f in c["custom_fields"] if f["name"] == name), "")


# Export columns in the order the server writes them (whatever order the request used):
# request name -> (header label, value getter).
EXPORT_COLUMNS = {
    "EMAIL": ("Email", lambda c: c["email_addresses"][0]["email_address"]),
    "FIRST NAME": ("First Name", lambda c: c["first_name"]),
    "MIDDLE NAME": ("Middle Name", lambda c: c["middle_name"]),
    "LAST NAME": ("Last Name", lambda c: c["last_name"]),
    "JOB TITLE": ("Job Title", lambda c: c["job_title"]),
    "COMPANY NAME": ("Company Name", lambda c: c["company_name"]),
    "WORK PHONE": ("Work Phone", lambda c: c["work_phone"]),
    "HOME PHONE": ("Home Phone", lambda c: c["home_phone"]),
    "ADDRESS LINE 1": ("Address Line 1", _address("line1")),
    "ADDRESS LINE 2": ("Address Line 2", _address("line2")),
    "ADDRESS LINE 3": ("Address Line 3", _address("line3")),
    "CITY": ("City", _address("city")),
    "STATE": ("State", _address("state_code")),
    "STATE/PROVINCE (INTL)": ("State/Province (Intl)", _address("state")),
    "COUNTRY": ("Country", _address("country_code")),
    "POSTAL CODE": ("Postal Code", _address("postal_code")),
    "SUB POSTAL CODE": ("Sub Postal Code", _address("sub_postal_code")),
    **{f"CUSTOM FIELD {n}": (f"Custom Field {n}", _custom(n)) for n in range(1, 16)},
}


def _error(status, key, message):
    return json_response([{"error_key": key, "error_message": message}], status)


def _bad_param(name):
    return HttpError(_error(400, "query.param.invalid", f"The query parameter {name} is invalid"))


class CcV2:
    def __init__(self, emu):
        self.emu = emu
        self.data = emu.data

    def register(self, router):
        for method, pattern, handler in [
            ("GET", r"/v2/account/info", self.account_info),
            ("GET", r"/v2/lists", self.lists),
            ("GET", r"/v2/lists/(?P<list_id>[^/]+)", self.one_list),
            ("GET", r"/v2/lists/(?P<list_id>[^/]+)/contacts", self.list_contacts),
            ("POST", r"/v2/activities/exportcontacts", self.create_export),
            ("GET", r"/v2/activities/(?P<activity_id>[^/]+)", self.activity),
            ("GET", r"/v2/exports/(?P<activity_id>[^/]+)\.csv", self.export_file),
        ]:
            router.add(method, pattern, self._authed(handler))

    def _authed(self, handler):
        def wrapper(req):
            # req.query is URL-decoded (parse_qs): a key with + / = & % matches only when the client encoded it.
            if (req.query.get("api_key") != self.emu.v2_api_key
                    or req.headers.get("Authorization") != f"Bearer {self.emu.v2_access_token}"):
                return _error(401, "http.status.unauthorized", "Unauthorized")
            refusal = self.emu.faults.take_cc_refusal("cc_v2")
            if refusal:   # no Retry-After, as on v3
                return _error(429, refusal, RATE_LIMIT_MESSAGES[refusal])
            return handler(req)
        return wrapper

    @staticmethod
    def _since(req) -> str | None:
        raw = req.query.get("modified_since")
        if raw is None or raw == "":
            return None
        dt = parse_iso(raw)
        if dt is None:
            raise _bad_param("modified_since")
        return fmt_ms(dt)  # stored dates use the same fixed-width UTC form, so strings compare

    def _readings(self):
        """modified_since is inclusive here (>=) unless faults.bounds says otherwise; v2 has no upper bound."""
        return self.emu.faults.readings("inclusive", "inclusive")

    # ------------------------------------------------------------ reads

    def account_info(self, req):
        return json_response({
            "website": "https://www.example.com", "organization_name": "Emulated Flowers, Inc.",
            "time_zone": "US/Eastern", "first_name": "Erin", "last_name": "Mulator",
            "email": "owner@example.com", "phone": "555-555-0100", "country_code": "US", "state_code": "MA",
        })

    def lists(self, req):
        since, readings = self._since(req), self._readings()
        with self.data.lock:
            out = [dict(lst) for lst in self.data.cc_v2_lists
                   if self.emu.faults.in_bounds(lst["modified_date"], since, None, readings)]
        return json_response(out)

    def one_list(self, req):
        lst = self.data.v2_list(req.params["list_id"])
        if lst is None:
            return _error(404, "http.status.not_found", f"Contact list {req.params['list_id']} not found")
        return json_response(lst)

    def list_contacts(self, req):
        list_id = req.params["list_id"]
        if self.data.v2_list(list_id) is None:
            return _error(404, "http.status.not_found", f"Contact list {list_id} not found")
        token = req.query.get("next")
        if token:
            # The token carries everything; a client that also resends limit/modified_since is
            # not an error, the token's values win.
            state = decode_token(token)
            if not state or state.get("list") != list_id:
                raise _bad_param("next")
            limit, since, after = state["limit"], state.get("since"), state["after"]
            readings = tuple(state.get("readings") or self._readings())
        else:
            try:
                limit = int(req.query.get("limit", 50))
            except ValueError:
                raise _bad_param("limit")
            if not 1 <= limit <= MAX_LIMIT:
                raise _bad_param("limit")
            since, after, readings = self._since(req), None, self._readings()

        with self.data.lock:
            members = self.data.cc_v2_members[list_id]
            contacts = self.data.cc_v2_contacts
            # Keyset paging on the ascending contact id: stable even if members change meanwhile.
            start = bisect.bisect_right(members, int(after), key=int) if after else 0
            page, more = [], False
            for cid in members[start:]:
                contact = contacts[cid]
                if not self.emu.faults.in_bounds(contact["last_update_date"], since, None, readings):
                    continue
                if len(page) == limit:
                    more = True
                    break
                page.append(contact)
            pagination, next_link = {}, None
            if self.emu.faults.take_repeat_link(req):   # this very page again (the client adds api_key itself)
                next_link = self_href(req, drop=("api_key",))
            elif more:
                nxt = encode_token({"list": list_id, "limit": limit, "since": since, "after": page[-1]["id"],
                                    "readings": list(readings)})
                next_link = f"/v2/lists/{list_id}/contacts?next={nxt}"
            next_link = self.emu.faults.link(req, next_link)
            if next_link:
                pagination["next_link"] = next_link
            parts = [self.data.encoded(("v2c", c["id"]), lambda c=c: c) for c in page]
        body = b'{"meta": {"pagination": %s}, "results": [%s]}' % (json.dumps(pagination).encode(), b", ".join(parts))
        return Response(200, body)

    # ------------------------------------------------------------ export

    def create_export(self, req):
        body = req.json()
        if not isinstance(body, dict):
            return _error(400, "json.payload.invalid", "Request body must be a JSON object")
        lists = body.get("lists")
        columns = body.get("column_names")
        if not isinstance(lists, list) or len(lists) != 1:
            return _error(400, "json.field.lists.invalid", "Exactly one contact list must be given in lists")
        if not isinstance(columns, list) or "EMAIL" not in [str(c).upper() for c in columns]:
            return _error(400, "json.field.column_names.invalid", "column_names must include EMAIL")
        unknown = [c for c in columns if str(c).upper() not in EXPORT_COLUMNS]
        if unknown:
            return _error(400, "json.field.column_names.value.invalid", f"Unknown column names: {unknown}")
        if body.get("file_type", "CSV") not in ("CSV", "TXT"):
            return _error(400, "json.field.file_type.invalid", "file_type must be CSV or TXT")
        if body.get("sort_by", "EMAIL_ADDRESS") not in ("EMAIL_ADDRESS", "DATE_DESC"):
            return _error(400, "json.field.sort_by.invalid", "sort_by must be EMAIL_ADDRESS or DATE_DESC")
        list_id = str(lists[0])
        if list_id not in SYSTEM_LISTS and self.data.v2_list(list_id) is None:
            return _error(400, "json.field.lists.value.invalid", f"Contact list {list_id} not found")
        params = {**body, "list": list_id, "columns": {str(c).upper() for c in columns}}
        job = self.emu.jobs.create("cc_v2", params)
        job.record_count = len(self._listing(params)) - 1  # minus the header row
        return json_response({"id": job.id, "type": "EXPORT_CONTACTS", "error_count": 0,
                              "contact_count": job.record_count}, 201)

    def activity(self, req):
        job = self.emu.jobs.get(req.params["activity_id"])
        if job is None or job.api != "cc_v2":
            return _error(404, "http.status.not_found", f"Activity {req.params['activity_id']} not found")
        phase = self.emu.jobs.poll(job)
        # Any failure state fail_next_jobs named is served as is; ERROR is the documented one.
        status = {"queued": "QUEUED", "processing": "RUNNING", "done": "COMPLETE", "failed": job.failure or "ERROR"}[phase]
        out = {"id": job.id, "type": "EXPORT_CONTACTS", "status": status,
               "created_date": fmt_ms(job.created_at),
               "error_count": 1 if status == "ERROR" else 0, "contact_count": job.record_count}
        if job.started_at:
            out["start_date"] = fmt_ms(job.started_at)
        if job.finished_at:
            out["finish_date"] = fmt_ms(job.finished_at)
        if status == "COMPLETE":
            out["file_name"] = self.emu.faults.link(req, f"{self.emu.url}/v2/exports/{job.id}.csv")
        if status == "ERROR":
            out["errors"] = [{"message": "Export failed (emulated)", "line_number": 0, "email_address": ""}]
        return json_response(out)

    def export_file(self, req):
        job = self.emu.jobs.get(req.params["activity_id"])
        if job is None or job.api != "cc_v2" or job.phase != "done":
            return _error(404, "http.status.not_found", "Export file not found")
        rows = self._listing(job.params)
        faults = self.emu.faults.take_csv_faults("cc_v2", len(rows) - 1)
        if faults:
            return Response(200, self._csv(job.params, rows, faults), "text/csv; charset=UTF-8")
        return Response(200, self.emu.jobs.file_bytes(job, lambda j: self._csv(j.params, rows)),
                        "text/csv; charset=UTF-8")

    def _listing(self, params) -> list[list[str]]:
        return self.emu.jobs.reused(("rows", "cc_v2", params), lambda: self._rows(params))

    def _rows(self, params) -> list[list[str]]:
        """Header row + one row per contact, columns in the server's fixed order."""
        list_id = params["list"]
        wanted = [(label, get) for name, (label, get) in EXPORT_COLUMNS.items() if name in params["columns"]]
        header = [label for label, _ in wanted]
        date_added, added_by = params.get("export_date_added"), params.get("export_added_by")
        header += ["Date Added"] * bool(date_added) + ["Added By"] * bool(added_by)
        with self.data.lock:
            if list_id in SYSTEM_LISTS:
                members = [(c, c["insert_date"]) for c in self.data.cc_v2_contacts.values()
                           if c["status"] == SYSTEM_LISTS[list_id]]
            else:
                members = [(c, fmt_ms(self.data.cc_v2_date_added[(list_id, c["id"])]))
                           for c in self.data.v2_list_contacts(list_id)]
        if params.get("sort_by") == "DATE_DESC":
            members.sort(key=lambda m: (m[1], m[0]["id"]), reverse=True)
        else:
            members.sort(key=lambda m: (m[0]["email_addresses"][0]["email_address"].lower(), m[0]["id"]))
        rows = [header]
        for contact, added in members:
            row = [get(contact) for _, get in wanted]
            if date_added:
                row.append(added)
            if added_by:
                row.append(contact["email_addresses"][0]["opt_in_source"])
            rows.append(row)
        return rows

    @staticmethod
    def _csv(params, rows, faults: dict | None = None) -> bytes:
        return csv_file(rows, faults or {}, long_column="Custom Field 15", name_column="First Name",
                        delimiter="\t" if params.get("file_type") == "TXT" else ",")
