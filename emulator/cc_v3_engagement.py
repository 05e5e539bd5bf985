"""Constant Contact v3 email campaign activities and email reporting: GET /v3/emails/{campaign_id},
/v3/emails/activities/{id}[/send_history], /v3/reports/email_reports/{id}/tracking/{type} and /links, and
/v3/reports/stats/email_campaign_activities/{ids}. The data is Dataset.engagement (engagement_data.py).

Every call goes through CcV3._authed, so it needs a live access token and counts against the v3 daily quota.
Errors are the v3 APIErrorSchema: an array of {error_key, error_message}. Where the docs allow two readings a
Faults switch chooses: `cc_stats_keys` ("dotted" default: the guide's em_opens.all.mobile for the non-unique
counters; "underscored": the spec's em_opens_all_mobile) and `cc_last_page_links` ("omit" default: the last page
has no _links; "null": it carries {"next": {"href": null}}).
"""
from __future__ import annotations

import bisect
import re

from .common import HttpError, decode_token, encode_token, json_response
from .engagement_data import TRACKING_TYPES

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
ACTIVITY_INCLUDES = ("physical_address_in_footer", "permalink_url", "html_content", "document_properties")
LIMIT = re.compile(r"[0-9]{1,9}\Z")
MAX_STATS_IDS = 10


def _errors(status, key, message):
    return json_response([{"error_key": key, "error_message": message}], status)


def _bad(key, message):
    return HttpError(_errors(400, key, message))


def dotted(key: str) -> str:
    """The guide's spelling of a stats key: the non-unique counters (em_opens_all..., em_clicks_all...) dotted."""
    for stem in ("em_opens_all", "em_clicks_all"):
        if key.startswith(stem):
            return key.replace("_all", ".all", 1).replace("all_", "all.", 1)
    return key


class CcV3Engagement:
    def __init__(self, emu, cc_v3):
        self.emu = emu
        self.eng = emu.data.engagement
        self._authed = cc_v3._authed

    def register(self, router):
        for pattern, handler in [
            (r"/v3/emails/activities/(?P<aid>[^/]+)/send_history", self.send_history),
            (r"/v3/emails/activities/(?P<aid>[^/]+)", self.activity),
            (r"/v3/emails/(?P<cid>[^/]+)", self.campaign),
            (r"/v3/reports/email_reports/(?P<aid>[^/]+)/tracking/(?P<kind>[^/]+)", self.tracking),
            (r"/v3/reports/email_reports/(?P<aid>[^/]+)/links", self.links),
            (r"/v3/reports/stats/email_campaign_activities/(?P<ids>[^/]*)", self.stats),
        ]:
            router.add("GET", pattern, self._authed(handler))

    # ------------------------------------------------------------ helpers

    def _visible(self, aid, reports: bool):
        """404 for an unknown or REMOVED activity; 400 when a report is asked of a role without reports."""
        if not self.eng.visible(aid):
            raise HttpError(_errors(404, "resource.not_found", f"Campaign activity {aid} was not found."))
        if reports and not self.eng.reportable(aid):
            raise _bad("campaign_activity.role.invalid",
                       f"Campaign activity {aid} has role {self.eng.activities[aid]['role']}; only primary_email "
                       "and resend activities have reports.")

    # ------------------------------------------------------------ /emails

    def campaign(self, req):
        with self.emu.data.lock:
            body = self.eng.campaign_view(req.params["cid"])
        if body is None:
            return _errors(404, "resource.not_found", f"Email campaign {req.params['cid']} was not found.")
        return json_response(body)

    def activity(self, req):
        raw = req.query.get("include") or ""
        names = [n.strip() for n in raw.split(",") if n.strip()]
        unknown = [n for n in names if n not in ACTIVITY_INCLUDES]
        if unknown:
            raise _bad("query.param.include.invalid", f"include has values that are not allowed: {', '.join(unknown)}")
        with self.emu.data.lock:
            self._visible(req.params["aid"], reports=False)
            return json_response(self.eng.activity_view(req.params["aid"], names))

    def send_history(self, req):
        with self.emu.data.lock:
            self._visible(req.params["aid"], reports=True)
            return json_response(self.eng.send_history(req.params["aid"]))

    # ------------------------------------------------------------ tracking reports

    def tracking(self, req):
        """Newest first, keyset-paged: the next link's opaque token holds the last record's (created_time,
        contact_id, url_id), so events added at the top between pages move nothing."""
        aid, kind = req.params["aid"], req.params["kind"]
        if kind not in TRACKING_TYPES:
            return _errors(404, "resource.not_found", f"No tracking report {kind}.")
        token = req.query.get("next")
        if token:
            state = decode_token(token)
            if not state or state.get("a") != aid or state.get("k") != kind or "after" not in state:
                raise _bad("query.param.next.invalid", "The next token is not valid for this report.")
        else:
            state = {"a": aid, "k": kind, "after": None, "limit": self._limit(req),
                     "url_id": self._url_id(req) if kind == "clicks" else None,
                     "codes": self._codes(req) if kind == "bounces" else None}
        eng = self.eng
        with self.emu.data.lock:
            self._visible(aid, reports=True)
            rows = eng.rows(aid, kind)
            end = len(rows) if state["after"] is None else bisect.bisect_left(rows, tuple(state["after"]),
                                                                              key=lambda r: r[:3])
            page, i = [], end - 1
            links = self.eng._plans[aid]["links"]
            filtered = state["url_id"] is not None or state["codes"]
            while i >= 0 and len(page) < state["limit"]:
                row = rows[i]
                i -= 1
                if not filtered or self._wanted(state, links, row):
                    page.append(row)
            more = any(self._wanted(state, links, rows[j]) for j in range(i, -1, -1)) if filtered else i >= 0
            body = {"tracking_activities": [eng.render(aid, kind, row) for row in page]}
        if more:
            nxt = encode_token({**state, "after": list(page[-1][:3])})
            body["_links"] = {"next": {"href": f"/v3/reports/email_reports/{aid}/tracking/{kind}?next={nxt}"}}
        elif page and self.emu.faults.cc_last_page_links == "null":
            body["_links"] = {"next": {"href": None}}
        return json_response(body)

    @staticmethod
    def _wanted(state, links, row) -> bool:
        if state["url_id"] is not None and links[row[4][1]]["url_id"] != state["url_id"]:
            return False
        return not state["codes"] or row[4][0] in state["codes"]

    @staticmethod
    def _limit(req) -> int:
        """`limit` is a string parameter, "1" to "500", default "500"."""
        raw = req.query.get("limit", "500")
        if not LIMIT.match(raw) or not 1 <= int(raw) <= 500:
            raise _bad("query.param.limit.invalid", "limit must be a number from 1 to 500")
        return int(raw)

    @staticmethod
    def _url_id(req):
        raw = req.query.get("url_id")
        if raw is None:
            return None
        if not re.fullmatch(r"[0-9]{1,19}", raw):
            raise _bad("query.param.url_id.invalid", "url_id must be an integer")
        return str(int(raw))

    @staticmethod
    def _codes(req):
        codes = req.query_all.get("bounce_code") or []
        bad = [c for c in codes if c not in ("B", "D", "F", "S", "V", "X", "Z")]
        if bad:
            raise _bad("query.param.bounce_code.invalid", f"bounce_code values not allowed: {', '.join(bad)}")
        return sorted(set(codes)) or None

    # ------------------------------------------------------------ links and stats

    def links(self, req):
        aid = req.params["aid"]
        raw = req.query.get("no_clicks", "false")
        if raw not in ("true", "false"):
            raise _bad("query.param.no_clicks.invalid", "no_clicks must be true or false")
        with self.emu.data.lock:
            self._visible(aid, reports=True)
            counts = self.eng.links(aid, no_clicks=raw == "true")
        return json_response({"campaign_activity_id": aid, "link_click_counts": counts})

    def stats(self, req):
        """1 to 10 ids; one malformed id makes the whole call 404; unknown, REMOVED, permalink and not-DONE ids are
        listed under errors."""
        ids = list(dict.fromkeys(i.strip() for i in req.params["ids"].split(",") if i.strip()))
        if not ids or len(ids) > MAX_STATS_IDS:
            raise _bad("invalid_path_param.campaign_activity_ids",
                       f"Between 1 and {MAX_STATS_IDS} campaign activity ids are allowed.")
        if not all(UUID.match(i) for i in ids):
            return _errors(404, "reportingsvc.not_found.invalid_path_param.campaign_activity_ids.",
                           "A campaign activity id is not valid.")
        errors, results = [], []
        dotted_keys = self.emu.faults.cc_stats_keys == "dotted"
        with self.emu.data.lock:
            for aid in ids:
                if not self.eng.has_stats(aid):
                    errors.append({"error_key": "reportingsvc.not_found.invalid_path_param.campaign_activity_ids.",
                                   "error_message": f"Could not find any stats for campaign activity {aid}."})
                    continue
                record = self.eng.stats(aid)
                if dotted_keys:
                    record = {**record, "stats": {dotted(k): v for k, v in record["stats"].items()}}
                results.append(record)
        return json_response({"errors": errors, "results": results})
