"""Email engagement ground truth behind the v3 reporting endpoints: campaign activities, send history, per-contact
tracking rows, link counts and activity stats, derived from the Dataset's campaigns and contacts.

Drawn from generators of their own, so every other value of the dataset stays as it was. Counts (sends, openers,
clickers, ...) are drawn when the dataset is built, because the campaign summaries must agree with them; the rows
behind them are drawn per activity on first use and kept in a small LRU (a benchmark account holds millions of
rows), rebuilt the same way after eviction. Mutations (add_engagement) are kept apart from the drawn rows and
merged in, so a rebuilt activity still carries them.

Sizes (Dataset `sizes` keys): `cc_v3_recipients` 0 = each sent campaign's recipients drawn (20..400, a few 1,100),
N = every primary send goes to N contacts (capped at the account's contacts); `cc_v3_all_sent` 1 = every campaign is
Done (and summarized). A benchmark account: {"cc_v3_campaigns": 50, "cc_v3_contacts": 10_000,
"cc_v3_recipients": 10_000, "cc_v3_all_sent": 1} (BENCHMARK_SIZES).
"""
from __future__ import annotations

import random
from collections import OrderedDict
from datetime import datetime, timedelta

from .common import UTC, as_utc, fmt_ms, from_utc_stamp

BENCHMARK_SIZES = {"cc_v3_campaigns": 50, "cc_v3_contacts": 10_000, "cc_v3_recipients": 10_000, "cc_v3_all_sent": 1}
REPORT_ROLES = ("primary_email", "resend")
# Report path segment -> tracking_activity_type (unique_opens rows are opens; the guide's example says em_opens).
TRACKING_TYPES = {"sends": "em_sends", "opens": "em_opens", "unique_opens": "em_opens", "clicks": "em_clicks",
                  "bounces": "em_bounces", "optouts": "em_optouts", "forwards": "em_forwards",
                  "didnotopens": "em_didnotopens"}
TRACKING_STREAMS = {"cc_email_sends": "sends", "cc_email_opens": "opens", "cc_email_unique_opens": "unique_opens",
                    "cc_email_clicks": "clicks", "cc_email_bounces": "bounces", "cc_email_optouts": "optouts",
                    "cc_email_forwards": "forwards", "cc_email_did_not_opens": "didnotopens"}
# Optional record fields per report: left out of a record when they have no value.
OPTIONAL_FIELDS = {t: ["first_name", "last_name", "deleted_at"] for t in TRACKING_TYPES}
for _t in ("opens", "unique_opens", "clicks"):
    OPTIONAL_FIELDS[_t].append("device_type")
OPTIONAL_FIELDS["bounces"].append("current_email_address")
OPTIONAL_FIELDS["optouts"].append("opt_out_reason")
BOUNCE_CODES = {"B": "nonexistent_address", "D": "undeliverable", "F": "mailbox_full", "S": "suspended",
                "V": "vacation", "X": "other", "Z": "blocked"}
BOUNCE_WEIGHTS = {"B": 40, "D": 12, "F": 10, "S": 6, "V": 14, "X": 8, "Z": 10}
DEVICES = ("computer", "computer", "computer", "mobile", "mobile", "mobile", "mobile", "tablet", "other", None)
STAT_KEYS = ("em_bounces", "em_clicks", "em_clicks_all", "em_clicks_all_computer", "em_clicks_all_mobile",
             "em_clicks_all_tablet", "em_clicks_all_other", "em_clicks_all_none", "em_forwards", "em_not_opened",
             "em_opens", "em_opens_all", "em_opens_all_computer", "em_opens_all_mobile", "em_opens_all_tablet",
             "em_opens_all_other", "em_opens_all_none", "em_optouts", "em_sends", "em_abuse", "em_bounces_blocked",
             "em_bounces_mailbox_full", "em_bounces_nonexistent_address", "em_bounces_other", "em_bounces_suspended",
             "em_bounces_undeliverable", "em_bounces_vacation")
OPT_OUT_REASONS = ("The content is not what I expected", "I get too many emails", "I never signed up",
                   "Not relevant to me any more", None, None)
SUBJECTS = ("Spring is here: 20% off bouquets", "Your monthly garden notes", "Last chance: the sale ends tonight",
            "We're opening a new shop!", "Tips for long-lasting tulips", "Thank you, from all of us")
LINK_PAGES = ("https://www.example.com/", "https://www.example.com/sale?utm_source=cc&utm_campaign=spring",
              "https://shop.example.com/bouquets/roses", "https://www.example.com/events/open-house",
              "https://www.example.com/blog/tulips", "https://facebook.com/emulatedflowers",
              "https://www.example.com/survey?id=42&ref=email", "http://legacy.example.com/coupon.html")
FORMAT_TYPES = (1, 2, 3, 3, 4, 4, 5, 5, 5)
FOOTER = {"address_line1": "123 Maple Street", "address_line2": "Suite 100", "city": "Boston",
          "country_code": "US", "country_name": "United States", "organization_name": "Emulated Flowers, Inc.",
          "postal_code": "02148", "state_code": "MA", "state_name": "Massachusetts"}
LRU_RECIPIENTS = 60_000    # drawn activities kept, counted by their recipients
LRU_ROWS = 700_000         # report rows kept sorted (about 100 bytes each)


def _stamp(t: int, _cache={}) -> str:
    """Epoch seconds in the reports' form, 2019-04-25T11:08:00.000Z (ties make repeats common, so cached)."""
    s = _cache.get(t)
    if s is None:
        if len(_cache) > 200_000:
            _cache.clear()
        s = _cache[t] = datetime.fromtimestamp(t, UTC).replace(tzinfo=None).isoformat() + ".000Z"
    return s


def _epoch(stamp: str) -> int:
    return int(from_utc_stamp(stamp).timestamp())


class _Lru(OrderedDict):
    """key -> (value, weight); put() drops the least recently used entries while the total weighs over a budget."""

    total = 0

    def get(self, key):
        hit = super().get(key)
        if hit is None:
            return None
        self.move_to_end(key)
        return hit[0]

    def put(self, key, value, weight, budget):
        self.pop(key)
        self[key] = (value, weight)
        self.total += weight
        while len(self) > 1 and self.total > budget:
            self.popitem(last=False)
        return value

    def pop(self, key, default=None):
        hit = super().pop(key, None)
        if hit is not None:
            self.total -= hit[1]
        return default

    def popitem(self, last=True):
        key, hit = super().popitem(last)
        self.total -= hit[1]
        return key, hit


class EngagementData:
    """Engagement ground truth for one Dataset. Public:

    activities          campaign_activity_id -> activity dict (every documented field, includables too)
    by_campaign         campaign_id -> its activity ids (primary_email, permalink, then a resend if any)
    activity_view(id, include=())   the activity as GET /emails/activities/{id} serves it (None: unknown/REMOVED)
    campaign_view(id)   GET /emails/{campaign_id}'s body (None: unknown)
    send_history(id)    the bare list GET .../send_history serves
    tracking(id, type)  that report's records, newest first
    stats(id)           {campaign_id, campaign_activity_id, stats (underscored keys), last_refresh_time}
    links(id, no_clicks)  link_click_counts
    add_engagement(...), truth(stream) -- see their docstrings
    """

    def __init__(self, data):
        self.data = data
        self.seed = data.seed
        self._contacts = data.cc_v3_contacts
        self.activities, self.by_campaign, self._plans, self._extras = {}, {}, {}, {}
        self._overlay = {}                 # activity id -> [(kind, t, contact index, extra)] added by mutations
        # LRU budgets: a benchmark may raise them (about 4 MB per 10,000 recipients drawn, 100 bytes a row) so that
        # reading report after report does not draw an activity again (about 70 ms per 10,000 recipients).
        self.lru_recipients, self.lru_rows = LRU_RECIPIENTS, LRU_ROWS
        self._lru = _Lru()                 # (activity id, report) -> sorted rows
        self._counted = {}                 # activity id -> its stats record (and clickers per link)
        self._base_lru = _Lru()            # activity id -> drawn outcome (before mutations)
        self._build(random.Random(f"{self.seed}:engagement"))

    # ================================================================ eager part: activities, sends, counts

    def _build(self, rng):
        data, sizes = self.data, self.data.sizes
        if int(sizes.get("cc_v3_all_sent") or 0):
            self._send_everything()
        summaries = {s["campaign_id"]: s for s in data.cc_v3_campaign_summaries}
        fixed = int(sizes.get("cc_v3_recipients") or 0)
        n_contacts = len(self._contacts)
        list_ids = [lst["list_id"] for lst in data.cc_v3_lists]
        segment_ids = [s["segment_id"] for s in data.cc_v3_segments]
        pick = data._pick
        for campaign in data.cc_v3_campaigns:
            cid = campaign["campaign_id"]
            summary = summaries.get(cid)
            ft = pick(rng, FORMAT_TYPES)
            segment = ft >= 3 and segment_ids and rng.random() < 0.15
            lists = [] if segment or not list_ids else rng.sample(list_ids, min(len(list_ids), pick(rng, (1, 1, 2))))
            segs = [pick(rng, segment_ids)] if segment else []
            subject = pick(rng, SUBJECTS)
            primary = self._activity(rng, campaign, "primary_email", ft, lists, segs, subject, summary is not None)
            permalink = self._activity(rng, campaign, "permalink", ft, [], [], subject, summary is not None)
            ids = [primary, permalink]
            sends, counts = [], None
            if summary is not None:
                if fixed:
                    n = min(fixed, n_contacts)
                else:
                    n = min(n_contacts, rng.randint(20, 1100) if rng.random() < 0.03 else rng.randint(20, 400))
                start = from_utc_stamp(summary["last_sent_date"]).replace(microsecond=0)
                sends = self._primary_sends(rng, start, n, lists, segs)
                counts = self._counts(rng, n)
            elif campaign["current_status"] == "Error":
                start = from_utc_stamp(campaign["created_at"]).replace(microsecond=0) + timedelta(hours=rng.randint(1, 48))
                sends = [self._send(1, start, 0, lists, segs, "ERRORED", pick(rng, (1, 3, 4, 9)))]
            self._plans[primary] = {"sends": sends, "counts": counts, "recipients": counts and counts["n"],
                                    "parent": None, "links": self._links(rng) if counts else []}
            self._plans[permalink] = {"sends": [], "counts": None, "recipients": 0, "parent": None, "links": []}
            non_openers = counts and counts["n"] - counts["bounces"] - counts["openers"]
            if summary is not None and non_openers and rng.random() < 0.2:
                resend = self._activity(rng, campaign, "resend", ft, lists, segs, "In case you missed it: " + subject,
                                        True)
                at = start + timedelta(days=rng.randint(3, 7), seconds=rng.randrange(86400))
                self._plans[resend] = {"sends": [self._send(1, at, non_openers, lists, segs)],
                                       "counts": self._counts(rng, non_openers, low=0.05, high=0.3),
                                       "recipients": non_openers, "parent": primary,
                                       "links": self._plans[primary]["links"]}
                ids.append(resend)
            self.by_campaign[cid] = ids
            if summary is not None:
                self._summarize(cid, summary, eager=True)

    def _send_everything(self):
        """cc_v3_all_sent: every campaign Done, each with a summary (drawn from a generator of its own)."""
        data = self.data
        rng = random.Random(f"{self.seed}:engagement-all-sent")
        have = {s["campaign_id"] for s in data.cc_v3_campaign_summaries}
        for campaign in data.cc_v3_campaigns:
            campaign["current_status"] = "Done"
            if campaign["campaign_id"] not in have:
                created, updated = from_utc_stamp(campaign["created_at"]), from_utc_stamp(campaign["updated_at"])
                kind = next((t[2] for t in _campaign_types() if t[0] == campaign["type"]), "Newsletter")
                data.cc_v3_campaign_summaries.append(
                    data._v3_summary(rng, campaign["campaign_id"], kind, data._when(rng, created, updated)))
        data.cc_v3_campaign_summaries.sort(key=lambda s: s["campaign_id"])

    def _activity(self, rng, campaign, role, ft, lists, segs, subject, sent) -> str:
        aid = self.data._uuid(rng)
        activity = {"campaign_activity_id": aid, "campaign_id": campaign["campaign_id"], "role": role,
                    "contact_list_ids": list(lists), "segment_ids": list(segs), "format_type": ft,
                    "from_email": "news@example.com", "from_name": "Emulated Flowers",
                    "reply_to_email": "hello@example.com", "subject": subject}
        if ft >= 3:
            activity["preheader"] = "Fresh picks for you this week"
        if ft == 4:
            activity["document_id"] = str(rng.randrange(10**9, 10**10))
        extras = {"physical_address_in_footer": dict(FOOTER)}
        if sent:   # a permalink is reachable once the email went out
            extras["permalink_url"] = f"https://conta.cc/{rng.getrandbits(40):010x}"
        if ft in (1, 5):
            extras["html_content"] = f"<html><body><h1>{subject}</h1><p>[[trackingImage]]</p></body></html>"
        if ft in (1, 2):
            extras["document_properties"] = {"letter_format": "HTML", "greeting_name_type": "F",
                                             "greeting_salutation": "Dear", "subscribe_link_enabled": "false",
                                             "forward_email_link_enabled": "true",
                                             "forward_email_link_name": "Forward this email"}
        self.activities[aid] = activity
        self._extras[aid] = extras
        return aid

    @staticmethod
    def _send(send_id, at, count, lists, segs, status="COMPLETED", reason=0) -> dict:
        return {"send_id": send_id, "contact_list_ids": list(lists), "segment_ids": list(segs), "count": count,
                "run_date": fmt_ms(at), "send_status": status, "reason_code": reason}

    def _primary_sends(self, rng, start, n, lists, segs) -> list:
        """Send history: sometimes a first attempt that ERRORED, the main send, sometimes a later send to contacts new
        to the lists, and now and then a send that found no one new (COMPLETED, count 0, reason 12)."""
        sends = []
        if rng.random() < 0.05:
            sends.append(self._send(1, start - timedelta(hours=rng.randint(1, 20)), 0, lists, segs, "ERRORED",
                                    self.data._pick(rng, (2, 3, 7, 8))))
        later = max(1, n // 15) if n >= 2 and rng.random() < 0.12 else 0
        sends.append(self._send(len(sends) + 1, start, n - later, lists, segs))
        if later:
            sends.append(self._send(len(sends) + 1, start + timedelta(days=rng.randint(1, 10), seconds=rng.randrange(3600)),
                                    later, lists, segs))
        if rng.random() < 0.04:
            sends.append(self._send(len(sends) + 1, start + timedelta(days=12), 0, lists, segs, "COMPLETED", 12))
        return sends

    @staticmethod
    def _counts(rng, n, low=0.15, high=0.65) -> dict:
        bounces = rng.randint(0, n // 20) if n else 0
        openers = int((n - bounces) * rng.uniform(low, high))
        return {"n": n, "bounces": bounces, "openers": openers, "clickers": int(openers * rng.uniform(0, 0.45)),
                "forwards": min(openers, rng.randint(0, openers // 12 + 1)) if openers else 0,
                "optouts": min(openers, rng.randint(0, openers // 15 + 1)) if openers else 0,
                "abuse": rng.randint(0, 2) if n else 0}

    def _links(self, rng) -> list:
        chosen = rng.sample(LINK_PAGES, rng.randint(2, 6))
        links = []
        for url in chosen:
            link = {"link_url": url, "url_id": str(1100000000000 + rng.randrange(10**12))}
            if rng.random() < 0.2 and self.data.cc_v3_lists:
                link.update(list_action="add", list_id=self.data._pick(rng, self.data.cc_v3_lists)["list_id"])
            if rng.random() < 0.15:
                link["link_tag"] = f"link-{len(links) + 1}"
            links.append(link)
        return links

    def _summarize(self, campaign_id, summary, eager=False):
        """The campaign summary's unique counts: the sums over its primary_email and resend activities."""
        totals = dict.fromkeys(("sends", "opens", "clicks", "forwards", "optouts", "abuse", "bounces", "not_opened"), 0)
        last = None
        for aid in self.by_campaign[campaign_id]:
            plan = self._plans[aid]
            if self.activities[aid]["role"] not in REPORT_ROLES or not plan["counts"]:
                continue
            if eager:
                c = plan["counts"]
                part = {"sends": c["n"], "opens": c["openers"], "clicks": c["clickers"], "forwards": c["forwards"],
                        "optouts": c["optouts"], "abuse": c["abuse"], "bounces": c["bounces"],
                        "not_opened": c["n"] - c["openers"] - c["bounces"]}
            else:
                s = self.stats(aid)["stats"]
                part = {"sends": s["em_sends"], "opens": s["em_opens"], "clicks": s["em_clicks"],
                        "forwards": s["em_forwards"], "optouts": s["em_optouts"], "abuse": s["em_abuse"],
                        "bounces": s["em_bounces"], "not_opened": s["em_not_opened"]}
            for k in totals:
                totals[k] += part[k]
            done = [s["run_date"] for s in plan["sends"] if s["send_status"] == "COMPLETED"]
            last = max([last] + done) if last else max(done)
        summary["unique_counts"] = totals
        if last:
            summary["last_sent_date"] = last

    # ================================================================ views

    def campaign(self, campaign_id):
        return next((c for c in self.data.cc_v3_campaigns if c["campaign_id"] == campaign_id), None)

    def status(self, aid) -> str:
        """The activity's current_status: its campaign's, upper case (removing a campaign removes its activities)."""
        return self.campaign(self.activities[aid]["campaign_id"])["current_status"].upper()

    def visible(self, aid) -> bool:
        """Known and not REMOVED (a REMOVED activity cannot be fetched)."""
        return aid in self.activities and self.status(aid) != "REMOVED"

    def reportable(self, aid) -> bool:
        return self.activities[aid]["role"] in REPORT_ROLES

    def campaign_view(self, campaign_id):
        campaign = self.campaign(campaign_id)
        if campaign is None:
            return None
        refs = []
        for aid in self.by_campaign[campaign_id]:
            ref = {"campaign_activity_id": aid, "role": self.activities[aid]["role"]}
            if "document_id" in self.activities[aid]:
                ref["document_id"] = self.activities[aid]["document_id"]
            refs.append(ref)
        return {**campaign, "campaign_activities": refs}

    def activity_view(self, aid, include=()):
        if not self.visible(aid):
            return None
        view = {**self.activities[aid], "current_status": self.status(aid)}
        view["contact_list_ids"], view["segment_ids"] = list(view["contact_list_ids"]), list(view["segment_ids"])
        for name in include:
            if name in self._extras[aid]:
                view[name] = self._extras[aid][name]
        return view

    def send_history(self, aid) -> list:
        return [dict(s, contact_list_ids=list(s["contact_list_ids"]), segment_ids=list(s["segment_ids"]))
                for s in self._plans[aid]["sends"]]

    def last_sent(self, aid):
        """The newest run_date of the activity's send history (None: never sent)."""
        dates = [s["run_date"] for s in self._plans[aid]["sends"]]
        return max(dates) if dates else None

    # ================================================================ lazy part: rows

    def _base(self, aid) -> dict:
        """Drawn outcome of one activity (no mutations): recipients, send times and the events of each kind, as
        mutable [t, contact index, extra] lists."""
        with self.data.lock:
            hit = self._base_lru.get(aid)
            if hit is not None:
                return hit
            return self._base_lru.put(aid, self._draw(aid), self._plans[aid]["recipients"] or 1, self.lru_recipients)

    def _draw(self, aid) -> dict:
        plan, counts = self._plans[aid], self._plans[aid]["counts"]
        empty = {"recipients": [], "send_at": {}, "bounced": [], "openers": [], "non_openers": [], "opens": [],
                 "clicks": [], "bounces": [], "forwards": [], "optouts": []}
        if not counts:
            return empty
        rng = random.Random(f"{self.seed}:engagement:{aid}")
        pick = self.data._pick
        if plan["parent"]:
            recipients = list(self._base(plan["parent"])["non_openers"])
        else:
            recipients = rng.sample(range(len(self._contacts)), counts["n"])
        send_at, pos = {}, 0
        for send in plan["sends"]:
            if send["send_status"] != "COMPLETED" or not send["count"]:
                continue
            run = _epoch(send["run_date"])
            for k, idx in enumerate(recipients[pos:pos + send["count"]]):
                send_at[idx] = run + k // 7    # the mailer stamps about seven contacts a second
            pos += send["count"]
        order = list(recipients)
        rng.shuffle(order)
        b, o = counts["bounces"], counts["openers"]
        bounced, openers = order[:b], order[b:b + o]
        outcome = set(bounced).union(openers)
        non_openers = [idx for idx in recipients if idx not in outcome]   # in send order
        opens, own = [], {}
        for idx in openers:
            t = send_at[idx] + 30 + min(int(rng.expovariate(1 / 14400)), 6 * 86400)
            mine = own[idx] = []
            for _ in range(pick(rng, (1, 1, 1, 1, 2, 2, 3, 4, 6, 9))):
                row = [t, idx, pick(rng, DEVICES)]
                opens.append(row)
                mine.append(row)
                t += 1 + int(rng.expovariate(1 / 20000))
        links = plan["links"]
        clicks = []
        for idx in rng.sample(openers, counts["clickers"]):
            seen = set()
            for _ in range(pick(rng, (1, 1, 2, 2, 3, 5))):
                at_open = pick(rng, own[idx])
                link = rng.randrange(len(links))
                t = at_open[0] + rng.randint(1, 300)
                while (t, link) in seen:
                    t += 1
                seen.add((t, link))
                clicks.append([t, idx, (at_open[2], link)])
        forwards = [[pick(rng, own[idx])[0] + rng.randint(5, 900), idx, None]
                    for idx in rng.sample(openers, counts["forwards"])]
        optouts = [[own[idx][-1][0] + rng.randint(5, 600), idx, pick(rng, OPT_OUT_REASONS)]
                   for idx in rng.sample(openers, counts["optouts"])]
        codes, weights = list(BOUNCE_WEIGHTS), list(BOUNCE_WEIGHTS.values())
        bounces = [[send_at[idx] + rng.randint(1, 3600), idx, (rng.choices(codes, weights)[0], rng.random() < 0.1)]
                   for idx in bounced]
        for rows, ident in ((opens, None), (clicks, 1), (forwards, None), (optouts, None), (bounces, None)):
            self._tie_up(rng, rows, ident)
        return {"recipients": recipients, "send_at": send_at, "bounced": bounced, "openers": openers,
                "non_openers": non_openers, "opens": opens, "clicks": clicks, "bounces": bounces,
                "forwards": forwards, "optouts": optouts}

    def _tie_up(self, rng, rows, ident):
        """Same-second events of different contacts: a few anywhere, and one across every 50th position of the
        newest-first order (so every page size that divides 500 ends inside a tie). Events only move later, and a
        contact's own events stay distinct in (time, link), the reports' keys."""
        if len(rows) < 2:
            return
        key = (lambda r: (r[1], r[0], r[2][1])) if ident else (lambda r: (r[1], r[0]))
        taken = {key(r) for r in rows}

        def move(r, t):
            new = (r[1], t, r[2][1]) if ident else (r[1], t)
            if r[0] != t and new not in taken:
                taken.discard(key(r))
                r[0] = t
                taken.add(new)

        for r in rng.sample(rows, len(rows) // 25):   # only ever later: no event moves before its send
            other = rows[rng.randrange(len(rows))]
            if other[1] != r[1] and other[0] > r[0]:
                move(r, other[0])
        contacts = self._contacts
        rows.sort(key=lambda r: (r[0], contacts[r[1]]["contact_id"], r[2][1] if ident else 0), reverse=True)
        for i in range(50, len(rows), 50):
            if rows[i][1] != rows[i - 1][1]:
                move(rows[i], rows[i - 1][0])

    def _events(self, aid) -> dict:
        """kind -> [(t, contact index, extra)], unsorted, mutations merged in; unique_opens and didnotopens derived."""
        base, overlay = self._base(aid), self._overlay.get(aid, ())
        opens = [tuple(r) for r in base["opens"]] + [(t, idx, x) for k, t, idx, x in overlay if k == "open"]
        clicks = [tuple(r) for r in base["clicks"]] + [(t, idx, x) for k, t, idx, x in overlay if k == "click"]
        last_open = {}
        for event in opens:
            if event[1] not in last_open or event[0] > last_open[event[1]][0]:
                last_open[event[1]] = event
        bounced, send_at = set(base["bounced"]), base["send_at"]
        return {"sends": [(send_at[idx], idx, None) for idx in base["recipients"]], "opens": opens,
                "unique_opens": list(last_open.values()), "clicks": clicks,
                "bounces": [tuple(r) for r in base["bounces"]], "optouts": [tuple(r) for r in base["optouts"]],
                "forwards": [tuple(r) for r in base["forwards"]],
                "didnotopens": [(send_at[idx], idx, None) for idx in base["recipients"]
                                if idx not in last_open and idx not in bounced]}

    def rows(self, aid, kind) -> list:
        """One report's rows ascending by (created_time, contact_id, url_id), each (created_time, contact_id, url_id,
        contact index, extra); the reports serve them from the end. Kept per (activity, report) in an LRU of
        LRU_ROWS rows, so a sync that reads report by report keeps what it pages through."""
        with self.data.lock:
            hit = self._lru.get((aid, kind))
            if hit is not None:
                return hit
            contacts, links = self._contacts, self._plans[aid]["links"]
            out = [(_stamp(t), contacts[idx]["contact_id"], links[extra[1]]["url_id"] if kind == "clicks" else "",
                    idx, extra) for t, idx, extra in self._events(aid)[kind]]
            out.sort(key=lambda r: r[:3])
            return self._lru.put((aid, kind), out, len(out) + 1, self.lru_rows)

    def render(self, aid, kind, row) -> dict:
        """One tracking record in wire shape; optional fields without a value are left out."""
        created, contact_id, _, idx, extra = row
        contact = self._contacts[idx]
        address = contact["email_address"]["address"]
        record = {"contact_id": contact_id, "campaign_activity_id": aid, "tracking_activity_type": TRACKING_TYPES[kind],
                  "email_address": address}
        # Some contacts were sent to before their names were known: the reports leave the names out.
        unnamed = int(contact_id[:2], 16) % 11
        if unnamed and contact.get("first_name"):
            record["first_name"] = contact["first_name"]
        if unnamed != 1 and unnamed and contact.get("last_name"):
            record["last_name"] = contact["last_name"]
        if kind in ("opens", "unique_opens") and extra:
            record["device_type"] = extra
        elif kind == "clicks":
            if extra[0]:
                record["device_type"] = extra[0]
            link = self._plans[aid]["links"][extra[1]]
            record["url_id"], record["link_url"] = link["url_id"], link["link_url"]
        elif kind == "bounces":
            code, old_address = extra
            record["bounce_code"] = code
            if old_address:   # the address that bounced was changed since
                record["email_address"] = "old." + address
            if not contact.get("deleted_at"):   # a deleted contact has no current address
                record["current_email_address"] = address
        elif kind == "optouts" and extra:
            record["opt_out_reason"] = extra
        record["created_time"] = created
        if contact.get("deleted_at"):
            record["deleted_at"] = contact["deleted_at"]
        return record

    def tracking(self, aid, kind, url_id=None, bounce_codes=None) -> list:
        """That report's records, newest first, filtered as the query asks."""
        records = [self.render(aid, kind, row) for row in reversed(self.rows(aid, kind))]
        if url_id is not None:
            records = [r for r in records if r["url_id"] == str(url_id)]
        if bounce_codes:
            records = [r for r in records if r["bounce_code"] in bounce_codes]
        return records

    # ================================================================ stats and links

    def has_stats(self, aid) -> bool:
        return self.visible(aid) and self.reportable(aid) and self.status(aid) == "DONE"

    def stats(self, aid) -> dict:
        """The activity's stats record, counted from its events (underscored keys); kept until a mutation."""
        with self.data.lock:
            hit = self._counted.get(aid)
            if hit is None:
                hit = self._counted[aid] = self._count(aid)
            return {k: (dict(v) if k == "stats" else v) for k, v in hit.items() if k != "_clickers"}

    def _count(self, aid) -> dict:
        events, plan = self._events(aid), self._plans[aid]
        s = dict.fromkeys(STAT_KEYS, 0)
        s["em_sends"], s["em_bounces"] = len(events["sends"]), len(events["bounces"])
        s["em_opens"], s["em_opens_all"] = len(events["unique_opens"]), len(events["opens"])
        s["em_clicks"], s["em_clicks_all"] = len({e[1] for e in events["clicks"]}), len(events["clicks"])
        s["em_forwards"], s["em_optouts"] = len(events["forwards"]), len(events["optouts"])
        s["em_abuse"] = plan["counts"]["abuse"] if plan["counts"] else 0
        s["em_not_opened"] = max(0, s["em_sends"] - s["em_opens"] - s["em_bounces"])
        for e in events["opens"]:
            s[f"em_opens_all_{e[2] or 'none'}"] += 1
        for e in events["clicks"]:
            s[f"em_clicks_all_{e[2][0] or 'none'}"] += 1
        for e in events["bounces"]:
            s[f"em_bounces_{BOUNCE_CODES[e[2][0]]}"] += 1
        clickers = {}
        for e in events["clicks"]:
            clickers.setdefault(e[2][1], set()).add(e[1])
        times = [e[0] for kind in events.values() for e in kind]
        refreshed = _stamp(max(times)) if times else self.last_sent(aid) or "2024-01-01T00:00:00.000Z"
        return {"campaign_id": self.activities[aid]["campaign_id"], "campaign_activity_id": aid, "stats": s,
                "last_refresh_time": refreshed, "_clickers": {i: len(c) for i, c in clickers.items()}}

    def links(self, aid, no_clicks=False) -> list:
        """link_click_counts: unique clickers per link, most clicked first; unclicked links only with no_clicks."""
        if not self._plans[aid]["counts"]:
            return []
        with self.data.lock:
            if aid not in self._counted:
                self.stats(aid)
            clickers = self._counted[aid]["_clickers"]
        out = []
        for i, link in enumerate(self._plans[aid]["links"]):
            n = clickers.get(i, 0)
            if n or no_clicks:
                out.append({**link, "unique_clicks": n})
        out.sort(key=lambda link: (-link["unique_clicks"], link["url_id"]))
        return out

    # ================================================================ mutation

    def add_engagement(self, campaign_activity_id, opens=0, clicks=0, at=None, contact_ids=None) -> dict:
        """Add `opens` opens and `clicks` clicks at `at` (default now) to a sent primary_email/resend activity.

        Opens go to `contact_ids` if given (recipients that did not bounce), else first to recipients that had not
        opened yet (so unique_opens grows and didnotopens shrinks), then to those that had; a contact given two opens
        gets them a second apart. Clicks go to this call's openers first, then earlier openers, on the activity's
        links in turn. Stats, unique_opens, didnotopens, links and the campaign summary follow. Returns
        {"opens": [records], "clicks": [records]} as the reports serve them."""
        aid = campaign_activity_id
        with self.data.lock:
            if aid not in self.activities or not self.reportable(aid) or not self._plans[aid]["counts"]:
                raise ValueError(f"{aid} is not a sent primary_email or resend activity")
            base, unique = self._base(aid), self._events(aid)["unique_opens"]
            t0 = int(as_utc(at).timestamp())
            index = {c["contact_id"]: i for i, c in enumerate(self._contacts)} if contact_ids else None
            bounced = set(base["bounced"])
            opened = {e[1] for e in unique}
            if contact_ids:
                targets = [index.get(c) for c in contact_ids]
                if any(i is None or i in bounced or i not in base["send_at"] for i in targets):
                    raise ValueError("contact_ids must be recipients of the activity that did not bounce")
            else:
                fresh = [i for i in base["recipients"] if i not in bounced and i not in opened]
                targets = fresh + [i for i in base["recipients"] if i in opened]
            added = []
            if opens:
                if not targets:
                    raise ValueError("the activity has no recipient that can open")
                for k in range(opens):
                    added.append(("open", t0 + k // len(targets), targets[k % len(targets)], None))
            new_openers = list(dict.fromkeys(e[2] for e in added))
            clickers = new_openers + [i for i in sorted(opened) if i not in set(new_openers)]
            links = self._plans[aid]["links"]
            if clicks:
                if not clickers:
                    raise ValueError("no contact of the activity has opened it, so none can click")
                per_round = len(clickers) * len(links)
                for k in range(clicks):
                    added.append(("click", t0 + k // per_round, clickers[k % len(clickers)],
                                  (None, (k // len(clickers)) % len(links))))
            self._overlay.setdefault(aid, []).extend(added)
            for kind in TRACKING_TYPES:
                self._lru.pop((aid, kind), None)
            self._counted.pop(aid, None)
            cid = self.activities[aid]["campaign_id"]
            summary = next((s for s in self.data.cc_v3_campaign_summaries if s["campaign_id"] == cid), None)
            if summary is not None:
                self._summarize(cid, summary)
            result = {"opens": [], "clicks": []}
            for kind in ("open", "click"):
                rows = sorted(((_stamp(t), self._contacts[idx]["contact_id"],
                                links[extra[1]]["url_id"] if kind == "click" else "", idx, extra)
                               for k, t, idx, extra in added if k == kind), key=lambda r: r[:3], reverse=True)
                result[kind + "s"] = [self.render(aid, kind + "s", row) for row in rows]   # as the report orders them
            return result

    # ================================================================ ground truth per stream

    def truth(self, stream: str, fill_nulls: bool = False, no_clicks: bool = True, activity_ids=None) -> list:
        """The records the connector should emit for one engagement stream (its full refresh), over every activity
        that is not REMOVED, campaign by campaign in dataset order:

        cc_email_campaign_activities  activity_view(id, include=["permalink_url"]) + campaign_updated_at (the
                                      campaign's updated_at) + campaign_name, every role
        cc_email_send_history         each send_history object + campaign_activity_id (primary_email/resend)
        cc_email_<tracking>           the report's records as served, newest first per activity
        cc_email_campaign_activity_stats  stats(id) of each DONE primary_email/resend (keys underscored)
        cc_email_links                each link_click_counts item + campaign_activity_id (no_clicks=True: all links)

        fill_nulls: tracking records get every optional field they leave out as None (the contract's emitted form).
        activity_ids: only these activities (a full truth draws every activity's rows: about a second by default).
        """
        if stream not in TRACKING_STREAMS and stream not in ("cc_email_campaign_activities", "cc_email_send_history",
                                                             "cc_email_campaign_activity_stats", "cc_email_links"):
            raise ValueError(f"no engagement stream {stream}")
        wanted = None if activity_ids is None else set(activity_ids)
        out = []
        for campaign in self.data.cc_v3_campaigns:
            for aid in self.by_campaign[campaign["campaign_id"]]:
                if not self.visible(aid) or (wanted is not None and aid not in wanted):
                    continue
                if stream == "cc_email_campaign_activities":
                    out.append({**self.activity_view(aid, ["permalink_url"]),
                                "campaign_updated_at": campaign["updated_at"], "campaign_name": campaign["name"]})
                    continue
                if not self.reportable(aid):
                    continue
                if stream == "cc_email_send_history":
                    out += [{"campaign_activity_id": aid, **s} for s in self.send_history(aid)]
                elif stream in TRACKING_STREAMS:
                    kind = TRACKING_STREAMS[stream]
                    records = self.tracking(aid, kind)
                    if fill_nulls:
                        records = [{**dict.fromkeys(OPTIONAL_FIELDS[kind]), **r} for r in records]
                    out += records
                elif stream == "cc_email_campaign_activity_stats":
                    if self.has_stats(aid):
                        out.append(self.stats(aid))
                elif stream == "cc_email_links":
                    out += [{"campaign_activity_id": aid, **link} for link in self.links(aid, no_clicks)]
        return out


def _campaign_types():
    from .dataset import CAMPAIGN_TYPES   # late: dataset imports this module
    return CAMPAIGN_TYPES
