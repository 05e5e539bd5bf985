"""Seeded ground-truth data for the three APIs, plus the mutation helpers tests use between syncs.

Everything here is generated from `random.Random(seed)` with fixed 2024-2025 timestamps, so two
emulators with the same seed and sizes hold identical data.  Only the mutation helpers read the
wall clock (when no `at` is given).  Records are stored in their wire shape; the API modules only
filter, page and serialize them.
"""
from __future__ import annotations

import bisect
import functools
import json
import random
import threading
import unicodedata
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from .common import UTC, as_utc, bounds_slice, fmt_ms, fmt_s, fmt_us, from_utc_stamp
from .engagement_data import EngagementData

DEFAULT_SIZES = {
    "cc_v2_list_members": {"1": 1203, "2": 57, "3": 0, "4": 4},
    "cc_v3_contacts": 1234,
    "cc_v3_lists": 25,
    "cc_v3_segments": 1100,     # two pages of 1000
    "cc_v3_campaigns": 1100,    # three pages of 500; the sent ones have a summary
    "cometly_contacts": 3000,
    "cc_v3_recipients": 0,      # engagement: 0 = drawn per sent campaign, N = every primary send reaches N contacts
    "cc_v3_all_sent": 0,        # engagement: 1 = every campaign Done and summarized (see engagement_data.py)
}

# Value pools.  Some entries deliberately carry CSV hazards (commas, quotes, newlines) and
# non-ASCII text so exports exercise the connector's parsing.
FIRST_NAMES = ["Alice", "Bob", "Carmen", "Dmitri", "Emeka", "Fatima", "Grace", "Hiro", "Ingrid", "Jamal",
               "Keiko", "Liam", "Maya", "Noah", "Olivia", "Priya", "Quentin", "Rosa", "Sven", "Tariq",
               "Uma", "Victor", "Wen", "Xavier", "Yara", "Zoë", "Łukasz", "José", "Renée", "Søren",
               "Ana María", "François"]
LAST_NAMES = ["Anderson", "Baker", "Chen", "Dubois", "Eriksen", "Fernández", "García", "Hughes", "Ito",
              "Jensen", "Kowalski", "Lopez", "Müller", "Nakamura", "O'Brien", "Patel", "Quinn", "Rossi",
              "Smith", "Tanaka", "Usman", "Varga", "Wójcik", "Xu", "Young", "Zhang", "山田", "Nguyễn"]
COMPANIES = ["Acme Corp", "Globex", "Initech", 'Smith, Jones & "Partners"', "Umbrella LLC", "Hooli",
             "Stark Industries", "Pied Piper", "Vandelay Industries", "Müller & Söhne GmbH", "Soylent, Inc.",
             "山田商事", ""]
JOB_TITLES = ["Purchasing Manager", "CEO", "Engineer", "Head of\nSales", "Marketing Lead", "Analyst, Data",
              '"Chief" Happiness Officer', "Director", ""]
DEPARTMENTS = ["Operations", "Sales", "Engineering", "Finance", "Marketing", ""]
PLACES = [  # city, state code, intl state/province, country, postal code
    ("Boston", "MA", "", "US", "02148"), ("Austin", "TX", "", "US", "73301"),
    ("Portland", "OR", "", "US", "97201"), ("Toronto", "ON", "", "CA", "M5H 2N2"),
    ("Kraków", "", "Małopolskie", "PL", "30-001"), ("Tokyo", "", "Tōkyō-to", "JP", "100-0001"),
    ("São Paulo", "", "SP", "BR", "01000-000"), ("Berlin", "", "Berlin", "DE", "10115"),
]
STREETS = ["123 Maple Street", "9 Elm Ave", "77 Market St, Floor 3", "1 Infinite Loop", "Hauptstraße 5",
           "ul. Floriańska 12", "Rua Augusta 1500"]
NOTE_TEXTS = ["Approves all purchases", "Met at the trade show,\nfollow up in Q3", 'Prefers "email" only',
              "VIP", "Called back, left message"]
V2_LIST_NAMES = {"1": "Key Accounts", "2": "Newsletter Subscribers", "3": "Empty Prospects",
                 "4": "VIP Beta Testers"}
V3_CUSTOM_FIELDS = [("favorite_color", "Favorite Color"), ("shoe_size", "Shoe Size"),
                    ("referral_code", "Referral Code")]
COLORS = ["blue", "red", "green", 'sea "foam" green', "black, matte", "ochre"]
V3_TAGS = [("VIP", "Shopify"), ("Trade show 2024", "Eventbrite"), ("Volunteer", "Import"), ("Loyalty card", "Shopify"),
           ("Webinar attendee", "Zoom"), ("Churn risk", "Salesforce")]
SEGMENT_NAMES = ["Engaged openers", "Clicked twice", "Lapsed 90 days", "New this month", "VIP buyers", "Never opened"]
# v3 campaign `type`, its `type_code`, and the `campaign_type` its summary report shows.
CAMPAIGN_TYPES = [("NEWSLETTER", 10, "Newsletter"), ("CUSTOM_CODE_EMAIL", 26, "Custom Code Email"),
                  ("ANNOUNCEMENT", 11, "Announcement"), ("EVENT_ANNOUNCEMENT", 20, "Event Announcement"),
                  ("SALE_PROMOTION", 22, "Sale Promotion"), ("AB_TEST", 57, "A/B Test")]
CAMPAIGN_STATUSES = {"Done": 70, "Draft": 14, "Scheduled": 3, "Error": 2, "Removed": 11}

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
CONFIGURED_PROFILE_SLOTS = {1, 2, 5, 16, 18, 26, 27}   # Cometly custom profile slots the emulated space uses
PROFILE_TEXTS = ["Premium", "Basic", "Trial", "Enterprise, annual", 'Referral "friend"', "Café", ""]
HORIZON = datetime(2025, 10, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=None)
def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in folded if ch.isalnum()) or "x"


class Dataset:
    """Ground truth. Attributes (plain lists/dicts of wire-shaped records):

    cc_v2_lists        list of v2 list dicts, ordered by id
    cc_v2_contacts     contact id -> v2 contact dict (its `lists` reflect memberships)
    cc_v2_members      list id -> member contact ids, ascending
    cc_v2_date_added   (list id, contact id) -> datetime the contact joined the list
    cc_v3_lists        v3 contact_list dicts
    cc_v3_contacts     v3 contact dicts with every sub-resource (the API strips non-included ones)
    cc_v3_custom_fields  v3 custom field definitions
    cc_v3_tags         v3 tag dicts (no contacts_count: the API counts taggings when asked)
    cc_v3_segments     v3 segment dicts, ordered by segment_id
    cc_v3_campaigns    v3 email campaign dicts, Removed ones included
    cc_v3_campaign_summaries  one summary report per campaign that was sent, ordered by campaign_id
    cometly_contacts   Cometly contact dicts incl. comet_tokens and all_emails, ordered by (created_at, id)
    engagement         EngagementData: campaign activities, send history and reports (its summaries' counts agree)
    """

    def __init__(self, seed: int = 7, sizes: dict | None = None, cometly_timezone: str = "UTC"):
        self.seed = seed
        self.sizes = {**DEFAULT_SIZES, **(sizes or {})}
        self.cometly_tz = ZoneInfo(cometly_timezone)
        self.lock = threading.RLock()
        self.version = 0      # bumped on every mutation; invalidates the sorted caches
        self._caches = {}
        self._json = {}
        self._build_v2(random.Random(f"{seed}:v2"))
        self._build_v3(random.Random(f"{seed}:v3"))
        self._add_v3_dates(random.Random(f"{seed}:v3-dates"))
        self._build_cometly(random.Random(f"{seed}:cometly"))
        self.engagement = EngagementData(self)

    # ================================================================ helpers

    @staticmethod
    def _when(rng, lo=EPOCH, hi=HORIZON, ms=False) -> datetime:
        lo = lo.replace(microsecond=0)
        span = max(1, int((hi - lo).total_seconds()))
        dt = lo + timedelta(seconds=rng.randrange(span))
        if ms and rng.random() < 0.7:
            dt = dt.replace(microsecond=rng.randrange(1000) * 1000)
        return dt

    @staticmethod
    def _uuid(rng) -> str:
        """A version-4 UUID string drawn from `rng` (uuid.UUID() is too slow for 100k records)."""
        h = f"{rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"

    @staticmethod
    def _pick(rng, seq):
        """rng.choice, but faster (one C call); fine for our small pools."""
        return seq[int(rng.random() * len(seq))]

    def _bump(self):
        self.version += 1
        self._caches.clear()
        self._json.clear()

    def encoded(self, key, build, store: bool = True) -> bytes:
        """JSON bytes of one record view, cached until the next mutation.

        Serializing is the dominant cost of a page, so pages are assembled from these pieces.
        Bulk export builds pass store=False so a 200k-record file does not also fill the cache.
        """
        blob = self._json.get(key)
        if blob is None:
            blob = json.dumps(build(), ensure_ascii=False).encode()
            if store:
                if len(self._json) >= 50_000:   # bound memory on benchmark-sized datasets
                    self._json.clear()
                self._json[key] = blob
        return blob

    def _cached(self, key, build):
        with self.lock:
            hit = self._caches.get(key)
            if hit is None or hit[0] != self.version:
                hit = (self.version, build())
                self._caches[key] = hit
            return hit[1]

    # ================================================================ Constant Contact v2

    def _build_v2(self, rng):
        sizes = {str(k): int(v) for k, v in self.sizes["cc_v2_list_members"].items()}
        counts = sorted(sizes.values(), reverse=True) or [0]
        pool_size = counts[0] + sum(counts[1:]) // 2 + 10
        self.cc_v2_contacts = {}
        self._v2_next_id = 1001
        for _ in range(pool_size):
            self._v2_new_contact(rng)
            self._v2_next_id += rng.randint(0, 2)  # ids are sparse, like a real account
        # A tenth of the contacts share their last_update_date with another (boundary cases).
        ids = list(self.cc_v2_contacts)
        for cid in rng.sample(ids, len(ids) // 10):
            self.cc_v2_contacts[cid]["last_update_date"] = self.cc_v2_contacts[self._pick(rng, ids)]["last_update_date"]

        self.cc_v2_lists, self.cc_v2_members, self.cc_v2_date_added = [], {}, {}
        for lid in sorted(sizes, key=lambda x: (len(x), x)):
            created = self._when(rng, EPOCH, datetime(2024, 6, 1, tzinfo=UTC), ms=True)
            members = sorted(rng.sample(ids, min(sizes[lid], len(ids))), key=int)
            self.cc_v2_members[lid] = members
            for cid in members:
                self.cc_v2_contacts[cid]["lists"].append({"id": lid, "status": "ACTIVE"})
                self.cc_v2_date_added[(lid, cid)] = self._when(rng, created, HORIZON)
            self.cc_v2_lists.append({
                "id": lid,
                "name": V2_LIST_NAMES.get(lid, f"List {lid}"),
                "status": "HIDDEN" if lid == "3" else "ACTIVE",
                "created_date": fmt_ms(created),
                "modified_date": fmt_ms(self._when(rng, created, HORIZON, ms=True)),
                "contact_count": len(members),
            })

    def _v2_new_contact(self, rng, at: datetime | None = None, **overrides) -> dict:
        cid = str(self._v2_next_id)
        self._v2_next_id += 1
        first, last = self._pick(rng, FIRST_NAMES), self._pick(rng, LAST_NAMES)
        inserted = at or self._when(rng, EPOCH, datetime(2025, 3, 1, tzinfo=UTC), ms=True)
        updated = at or self._when(rng, inserted, HORIZON, ms=True)
        status = rng.choices(["ACTIVE", "UNCONFIRMED", "OPTOUT", "REMOVED"], [88, 4, 6, 2])[0]
        city, state, intl_state, country, postal = self._pick(rng, PLACES)
        source = self._pick(rng, ["ACTION_BY_OWNER", "ACTION_BY_VISITOR"])
        email = {
            "id": str(rng.randrange(10**9, 10**10)),
            "status": status,
            "confirm_status": self._pick(rng, ["CONFIRMED", "NO_CONFIRMATION_REQUIRED", "UNCONFIRMED"]),
            "opt_in_source": source,
            "opt_in_date": fmt_ms(inserted),
            "email_address": f"{_ascii_slug(first)}.{_ascii_slug(last)}.{cid}@example.com",
        }
        if status == "OPTOUT":
            email["opt_out_date"] = fmt_ms(updated)
            email["opt_out_source"] = "ACTION_BY_VISITOR"
        n_custom = self._pick(rng, [0, 0, 1, 2, 3])
        contact = {
            "id": cid,
            "status": status,
            "addresses": [{
                "id": self._uuid(rng),
                "line1": self._pick(rng, STREETS), "line2": self._pick(rng, ["", "Suite 100", "Apt 4B"]), "line3": "",
                "city": city, "address_type": self._pick(rng, ["BUSINESS", "PERSONAL"]),
                "state_code": state, "state": intl_state, "country_code": country,
                "postal_code": postal, "sub_postal_code": self._pick(rng, ["", "", "1234"]),
            }] if rng.random() < 0.8 else [],
            "notes": [{"id": str(rng.randrange(1, 10**6)), "note": self._pick(rng, NOTE_TEXTS),
                       "created_date": fmt_ms(inserted), "modified_date": fmt_ms(inserted)}]
            if rng.random() < 0.2 else [],
            "confirmed": email["confirm_status"] == "CONFIRMED",
            "lists": [],
            "source": self._pick(rng, ["API", "Site Owner", "Signup Form", "Import"]),
            "email_addresses": [email],
            "prefix_name": self._pick(rng, ["", "", "Mr.", "Ms.", "Dr."]),
            "first_name": first,
            "middle_name": self._pick(rng, ["", "", "", "J.", "Marie"]),
            "last_name": last,
            "job_title": self._pick(rng, JOB_TITLES),
            "department_name": self._pick(rng, DEPARTMENTS),
            "company_name": self._pick(rng, COMPANIES),
            "home_phone": self._pick(rng, ["", f"555-555-{rng.randrange(10000):04d}"]),
            "work_phone": self._pick(rng, ["", f"555-555-{rng.randrange(10000):04d}"]),
            "cell_phone": self._pick(rng, ["", f"555-555-{rng.randrange(10000):04d}"]),
            "fax": "",
            "custom_fields": [{"name": f"CustomField{n}", "value": self._pick(rng, COLORS + ["Budget > $2.5 million"])}
                              for n in sorted(rng.sample(range(1, 16), n_custom))],
            "insert_date": fmt_ms(inserted),
            "last_update_date": fmt_ms(updated),
        }
        contact.update(overrides)
        self.cc_v2_contacts[cid] = contact
        return contact

    def v2_list(self, list_id: str) -> dict | None:
        return next((lst for lst in self.cc_v2_lists if lst["id"] == str(list_id)), None)

    def v2_list_contacts(self, list_id: str) -> list[dict]:
        """Ground truth for GET /v2/lists/{id}/contacts: member contacts by ascending id."""
        return [self.cc_v2_contacts[cid] for cid in self.cc_v2_members.get(str(list_id), [])]

    def touch_v2_members(self, list_id, contact_ids, at: datetime | None = None) -> list[dict]:
        """Stamp these members' last_update_date with `at` (default now, UTC, whole seconds)."""
        stamp = fmt_ms(as_utc(at))
        with self.lock:
            members = set(self.cc_v2_members[str(list_id)])
            touched = []
            for cid in map(str, contact_ids):
                if cid not in members:
                    raise KeyError(f"contact {cid} is not a member of list {list_id}")
                self.cc_v2_contacts[cid]["last_update_date"] = stamp
                touched.append(self.cc_v2_contacts[cid])
            self._bump()
            return touched

    def add_v2_member(self, list_id, email: str | None = None, first_name: str | None = None,
                      last_name: str | None = None, at: datetime | None = None) -> dict:
        """Create a new ACTIVE contact in the list (insert/update dates = `at`); returns it.
        The list's contact_count grows; its modified_date is left alone."""
        at = as_utc(at)
        lid = str(list_id)
        with self.lock:
            rng = random.Random(f"{self.seed}:v2add:{self._v2_next_id}")
            contact = self._v2_new_contact(rng, at=at, status="ACTIVE")
            contact["email_addresses"][0]["status"] = "ACTIVE"
            contact["email_addresses"][0].pop("opt_out_date", None)
            contact["email_addresses"][0].pop("opt_out_source", None)
            if email:
                contact["email_addresses"][0]["email_address"] = email
            if first_name is not None:
                contact["first_name"] = first_name
            if last_name is not None:
                contact["last_name"] = last_name
            contact["lists"].append({"id": lid, "status": "ACTIVE"})
            bisect.insort(self.cc_v2_members[lid], contact["id"], key=int)
            self.cc_v2_date_added[(lid, contact["id"])] = at
            self.v2_list(lid)["contact_count"] += 1
            self._bump()
            return contact

    def touch_v2_lists(self, list_ids, at: datetime | None = None) -> list[dict]:
        """Stamp these lists' modified_date with `at`."""
        stamp = fmt_ms(as_utc(at))
        with self.lock:
            touched = []
            for lid in map(str, list_ids):
                lst = self.v2_list(lid)
                if lst is None:
                    raise KeyError(f"no v2 list {lid}")
                lst["modified_date"] = stamp
                touched.append(lst)
            self._bump()
            return touched

    def _edge_rng(self, what: str) -> random.Random:
        """The generator that picks the records a stamp_*_at helper moves (deterministic per dataset state)."""
        return random.Random(f"{self.seed}:edges:{what}:{self.version}")

    @staticmethod
    def _pick_for_instants(rng, ids: list, instants, count_each: int) -> list[tuple[datetime, list]]:
        """(instant, ids) pairs: `count_each` distinct ids per instant, no id twice, spread over `ids`."""
        instants = [as_utc(at) for at in instants]
        if len(instants) * count_each > len(ids):
            raise ValueError(f"{len(instants)} instants x {count_each} need more than the {len(ids)} records there are")
        chosen = rng.sample(ids, len(instants) * count_each)
        return [(at, chosen[i * count_each:(i + 1) * count_each]) for i, at in enumerate(instants)]

    def stamp_v2_members_at(self, list_id, instants, count_each: int = 1) -> dict:
        """Put `count_each` members of the list exactly on each instant (last_update_date, so modified_since
        and the records' updated_at): {instant: [contacts]}. Window edges and far-future stamps."""
        with self.lock:
            pairs = self._pick_for_instants(self._edge_rng(f"v2:{list_id}"), list(self.cc_v2_members[str(list_id)]),
                                            instants, count_each)
            return {at: self.touch_v2_members(list_id, ids, at) for at, ids in pairs}

    def set_v2_date_added(self, list_id, contact_ids, at: datetime) -> list[dict]:
        """The date these members joined the list (the v2 export's `Date Added` column), e.g. 2099-01-01."""
        at = as_utc(at)
        with self.lock:
            touched = []
            for cid in map(str, contact_ids):
                if (str(list_id), cid) not in self.cc_v2_date_added:
                    raise KeyError(f"contact {cid} is not a member of list {list_id}")
                self.cc_v2_date_added[(str(list_id), cid)] = at
                touched.append(self.cc_v2_contacts[cid])
            self._bump()
            return touched

    # ================================================================ Constant Contact v3

    def _build_v3(self, rng):
        n_lists, n_contacts = int(self.sizes["cc_v3_lists"]), int(self.sizes["cc_v3_contacts"])
        # Ids come from `rng` (the contacts reference them); the rest from its own generator.
        marketing = random.Random(f"{self.seed}:v3-marketing")
        self.cc_v3_custom_fields = [{"custom_field_id": self._uuid(rng), "label": label, "name": name,
                                     "type": "string", **self._v3_stamps(marketing)}
                                    for name, label in V3_CUSTOM_FIELDS]
        self.cc_v3_tags = [{"tag_id": self._uuid(rng), "name": name, "tag_source": source, **self._v3_stamps(marketing)}
                           for name, source in V3_TAGS]
        self._share_newest(self.cc_v3_custom_fields, "updated_at")
        self._share_newest(self.cc_v3_tags, "updated_at")
        self.cc_v3_lists = []
        for i in range(n_lists):
            created = self._when(rng, EPOCH, datetime(2024, 9, 1, tzinfo=UTC))
            self.cc_v3_lists.append({
                "list_id": self._uuid(rng),
                "name": f"{self._pick(rng, ['Customers', 'Leads', 'Newsletter', 'Events', 'Partners'])} {i + 1:02d}",
                "description": self._pick(rng, ["", "Imported from the old CRM", "Signups, spring campaign"]),
                "favorite": rng.random() < 0.2,
                "created_at": fmt_s(created),
                "updated_at": fmt_s(self._when(rng, created, HORIZON)),
                "membership_count": 0,
            })
        self.cc_v3_lists.sort(key=lambda lst: (lst["created_at"], lst["list_id"]))

        stamps = sorted(self._when(rng) for _ in range(n_contacts))
        # Runs of identical updated_at straddling the 500-record page boundaries, plus random pairs.
        for boundary in range(500, n_contacts, 500):
            for j in range(boundary - 5, min(boundary + 5, n_contacts)):
                stamps[j] = stamps[boundary - 5]
        for j in rng.sample(range(1, n_contacts), n_contacts // 20) if n_contacts > 1 else []:
            stamps[j] = stamps[j - 1]
        stamps.sort()
        self.cc_v3_contacts = [self._v3_new_contact(rng, updated) for updated in stamps]
        self._v3_recount_lists()
        # Some opted out after their last update, which the API does not count as one: updated_at stays.
        late = random.Random(f"{self.seed}:v3-late-optouts")
        for contact in self.cc_v3_contacts:
            if contact["email_address"].get("opt_out_date") and late.random() < 0.4:
                opted_out = self._when(late, from_utc_stamp(contact["updated_at"]), HORIZON)
                contact["email_address"]["opt_out_date"] = contact["email_address"]["updated_at"] = fmt_s(opted_out)
        self._build_v3_segments(marketing)
        self._build_v3_campaigns(marketing)

    def _v3_stamps(self, rng) -> dict:
        created = self._when(rng, EPOCH - timedelta(days=400), EPOCH)
        return {"created_at": fmt_s(created), "updated_at": fmt_s(self._when(rng, created, HORIZON))}

    @staticmethod
    def _share_newest(records: list, field: str) -> None:
        """The newest two records share their stamp, so an inclusive cursor's boundary holds more than one."""
        newest = sorted(records, key=lambda r: r[field])[-2:]
        newest[0][field] = newest[-1][field]

    def _build_v3_segments(self, rng):
        self.cc_v3_segments = []
        for i in range(int(self.sizes["cc_v3_segments"])):
            created = self._when(rng, EPOCH, datetime(2025, 6, 1, tzinfo=UTC))
            self.cc_v3_segments.append({
                "name": f"{self._pick(rng, SEGMENT_NAMES)} {i + 1:04d}",
                "segment_id": 101 + i,
                "created_at": fmt_s(created),
                "edited_at": fmt_s(self._when(rng, created, HORIZON)),
            })
        self._share_newest(self.cc_v3_segments, "edited_at")

    def _build_v3_campaigns(self, rng):
        """Campaigns (stamps with milliseconds, as the API documents them) and the summary of each sent one."""
        self.cc_v3_campaigns, self.cc_v3_campaign_summaries = [], []
        for i in range(int(self.sizes["cc_v3_campaigns"])):
            created = self._when(rng, EPOCH, datetime(2025, 6, 1, tzinfo=UTC), ms=True)
            updated = self._when(rng, created, HORIZON, ms=True)
            kind, code, report_type = self._pick(rng, CAMPAIGN_TYPES)
            status = rng.choices(list(CAMPAIGN_STATUSES), list(CAMPAIGN_STATUSES.values()))[0]
            campaign = {"campaign_id": self._uuid(rng), "created_at": fmt_ms(created), "current_status": status,
                        "name": f"{report_type} {created:%B %Y} #{i + 1}", "type": kind, "type_code": code,
                        "updated_at": fmt_ms(updated)}
            self.cc_v3_campaigns.append(campaign)
            if status == "Done" or (status == "Removed" and rng.random() < 0.5):   # sent, some removed since
                self.cc_v3_campaign_summaries.append(
                    self._v3_summary(rng, campaign["campaign_id"], report_type, self._when(rng, created, updated)))
        self._share_newest(self.cc_v3_campaigns, "updated_at")
        self.cc_v3_campaign_summaries.sort(key=lambda s: s["campaign_id"])

    def _v3_summary(self, rng, campaign_id: str, campaign_type: str, sent: datetime) -> dict:
        sends = rng.randint(20, 5000)
        bounces = rng.randint(0, sends // 20)
        opens = rng.randint(0, sends - bounces)
        return {"campaign_id": campaign_id, "campaign_type": campaign_type, "last_sent_date": fmt_ms(sent),
                "unique_counts": {"sends": sends, "opens": opens, "clicks": rng.randint(0, opens),
                                  "forwards": rng.randint(0, opens // 10), "optouts": rng.randint(0, opens // 20),
                                  "abuse": rng.randint(0, 2), "bounces": bounces, "not_opened": sends - bounces - opens}}

    def _v3_new_contact(self, rng, updated: datetime, created: datetime | None = None) -> dict:
        created = created or self._when(rng, EPOCH - timedelta(days=400), updated)
        first, last = self._pick(rng, FIRST_NAMES), self._pick(rng, LAST_NAMES)
        cid = self._uuid(rng)
        c_s, u_s = fmt_s(created), fmt_s(updated)   # shared string objects keep 100k records lean
        status = rng.choices(["active", "unsubscribed", "removed"], [85, 10, 5])[0]
        permission = {"active": self._pick(rng, ["implicit", "explicit", "pending_confirmation"]),
                      "unsubscribed": "unsubscribed", "removed": "unsubscribed"}[status]
        city, state, intl_state, country, postal = self._pick(rng, PLACES)
        contact = {
            "contact_id": cid,
            "email_address": {
                "address": f"{_ascii_slug(first)}.{_ascii_slug(last)}.{cid[:8]}@example.org",
                "permission_to_send": permission,
                "created_at": c_s,
                "updated_at": u_s,
                "opt_in_source": self._pick(rng, ["Account", "Contact"]),
                "opt_in_date": c_s,
                "confirm_status": self._pick(rng, ["confirmed", "off", "unconfirmed"]),
            },
            "first_name": first,
            "last_name": last,
            "job_title": self._pick(rng, JOB_TITLES),
            "company_name": self._pick(rng, COMPANIES),
            "create_source": self._pick(rng, ["Account", "Contact"]),
            "update_source": self._pick(rng, ["Account", "Contact"]),
            "created_at": c_s,
            "updated_at": u_s,
            "custom_fields": [{"custom_field_id": f["custom_field_id"],
                               "value": self._pick(rng, COLORS) if f["name"] == "favorite_color"
                               else str(rng.randint(5, 14)) if f["name"] == "shoe_size"
                               else f"REF-{rng.randrange(10**6):06d}"}
                              for f in self.cc_v3_custom_fields if rng.random() < 0.5],
            "list_memberships": [lst["list_id"] for lst in rng.sample(
                self.cc_v3_lists, min(len(self.cc_v3_lists), self._pick(rng, [0, 1, 1, 2, 3])))],
            "phone_numbers": [{"phone_number_id": self._uuid(rng), "phone_number": f"+1 555 {rng.randrange(10**7):07d}",
                               "kind": self._pick(rng, ["home", "work", "mobile"]), "created_at": c_s,
                               "updated_at": u_s, "update_source": "Contact", "create_source": "Contact"}]
            if rng.random() < 0.6 else [],
            "street_addresses": [{"street_address_id": self._uuid(rng), "kind": self._pick(rng, ["home", "work"]),
                                  "street": self._pick(rng, STREETS), "city": city, "state": state or intl_state,
                                  "postal_code": postal, "country": country, "created_at": c_s,
                                  "updated_at": u_s}]
            if rng.random() < 0.5 else [],
            "taggings": [t["tag_id"] for t in rng.sample(self.cc_v3_tags, self._pick(rng, [0, 0, 1, 2]))],
            "notes": [{"note_id": self._uuid(rng), "created_at": c_s, "content": self._pick(rng, NOTE_TEXTS)}]
            if rng.random() < 0.15 else [],
        }
        if status == "unsubscribed" or status == "removed":
            contact["email_address"]["opt_out_source"] = "Contact"
            contact["email_address"]["opt_out_date"] = u_s
        if status == "removed":
            contact["deleted_at"] = updated.date().isoformat()
        return contact

    def _add_v3_dates(self, rng):
        """Birthdays (a month and a day: v3 keeps no year) and anniversaries for some contacts, drawn from a
        generator of their own so that every other v3 value stays as it was."""
        for contact in self.cc_v3_contacts:
            if rng.random() < 0.3:
                contact["birthday_month"], contact["birthday_day"] = rng.randint(1, 12), rng.randint(1, 28)
            if rng.random() < 0.2:
                contact["anniversary"] = (datetime(2000, 1, 1) + timedelta(days=rng.randrange(9000))).date().isoformat()

    def _v3_recount_lists(self):
        counts = {}
        for c in self.cc_v3_contacts:
            for lid in c["list_memberships"]:
                counts[lid] = counts.get(lid, 0) + 1
        for lst in self.cc_v3_lists:
            lst["membership_count"] = counts.get(lst["list_id"], 0)

    @staticmethod
    def v3_status(contact: dict) -> str:
        """active | unsubscribed | removed, as the export's `status` filter sees it."""
        if contact.get("deleted_at"):
            return "removed"
        return "unsubscribed" if contact["email_address"]["permission_to_send"] == "unsubscribed" else "active"

    def v3_sorted(self):
        """(keys, contacts) ordered by (updated_at, contact_id); keys are those tuples for bisect."""
        def build():
            contacts = sorted(self.cc_v3_contacts, key=lambda c: (c["updated_at"], c["contact_id"]))
            return [(c["updated_at"], c["contact_id"]) for c in contacts], contacts
        return self._cached("v3", build)

    def v3_contact(self, contact_id: str) -> dict | None:
        return next((c for c in self.cc_v3_contacts if c["contact_id"] == contact_id), None)

    def v3_export_contacts(self, list_ids=None, status: str | None = None, contact_ids=None) -> list[dict]:
        """Ground truth for a v3 CSV export: the selected contacts in file order (by email)."""
        lists, ids = set(list_ids or []), set(contact_ids or [])
        with self.lock:
            chosen = [c for c in self.cc_v3_contacts
                      if (not lists or lists.intersection(c["list_memberships"]))
                      and (not ids or c["contact_id"] in ids)
                      and (not status or self.v3_status(c) == status)]
        return sorted(chosen, key=lambda c: (c["email_address"]["address"].lower(), c["contact_id"]))

    def touch_v3_contacts(self, contact_ids, at: datetime | None = None) -> list[dict]:
        """Stamp these contacts' updated_at (and email_address.updated_at) with `at`."""
        stamp = fmt_s(as_utc(at))
        with self.lock:
            by_id = {c["contact_id"]: c for c in self.cc_v3_contacts}
            touched = []
            for cid in contact_ids:
                c = by_id[cid]
                c["updated_at"] = stamp
                c["email_address"]["updated_at"] = stamp
                touched.append(c)
            self._bump()
            return touched

    def stamp_v3_contacts_at(self, instants, count_each: int = 1) -> dict:
        """Put `count_each` contacts exactly on each instant (updated_at, as touch_v3_contacts; created_at moves
        back to it when it was later): {instant: [contacts]}. E.g. every 30 days from a start (common.every), so
        that windows' edges hold records; or one far-future instant (2099-01-01)."""
        with self.lock:
            pairs = self._pick_for_instants(self._edge_rng("v3"), [c["contact_id"] for c in self.cc_v3_contacts],
                                            instants, count_each)
            out = {}
            for at, ids in pairs:
                out[at] = self.touch_v3_contacts(ids, at)
                stamp = fmt_s(at)
                for contact in out[at]:
                    if contact["created_at"] > stamp:
                        contact["created_at"] = contact["email_address"]["created_at"] = stamp
            return out

    def _change_v3(self, records: list, id_key: str, ids, **changes) -> list[dict]:
        """Apply `changes` to the records whose `id_key` is in `ids`; returns them in the order of `ids`."""
        with self.lock:
            by_id = {r[id_key]: r for r in records}
            changed = [by_id[i] for i in ids]
            for record in changed:
                record.update(changes)
            self._bump()
            return changed

    def opt_out_v3_contacts(self, contact_ids, at: datetime | None = None) -> list[dict]:
        """Unsubscribe these contacts' emails at `at`, as the API records it: the email's opt_out_date and
        updated_at move, the contact's top-level updated_at does not."""
        stamp = fmt_s(as_utc(at))
        with self.lock:
            by_id = {c["contact_id"]: c for c in self.cc_v3_contacts}
            touched = []
            for cid in contact_ids:
                email = by_id[cid]["email_address"]
                email.update(permission_to_send="unsubscribed", opt_out_source="Contact", opt_out_date=stamp, updated_at=stamp)
                touched.append(by_id[cid])
            self._bump()
            return touched

    def touch_v3_lists(self, list_ids, at: datetime | None = None) -> list[dict]:
        """Stamp these lists' updated_at with `at`."""
        return self._change_v3(self.cc_v3_lists, "list_id", list_ids, updated_at=fmt_s(as_utc(at)))

    def touch_v3_custom_fields(self, custom_field_ids, at: datetime | None = None) -> list[dict]:
        """Stamp these custom fields' updated_at with `at` (a renamed label, say)."""
        return self._change_v3(self.cc_v3_custom_fields, "custom_field_id", custom_field_ids,
                               updated_at=fmt_s(as_utc(at)))

    def touch_v3_tags(self, tag_ids, at: datetime | None = None) -> list[dict]:
        """Stamp these tags' updated_at with `at`."""
        return self._change_v3(self.cc_v3_tags, "tag_id", tag_ids, updated_at=fmt_s(as_utc(at)))

    def touch_v3_segments(self, segment_ids, at: datetime | None = None) -> list[dict]:
        """Stamp these segments' edited_at with `at` (their name or criteria changed)."""
        return self._change_v3(self.cc_v3_segments, "segment_id", segment_ids, edited_at=fmt_s(as_utc(at)))

    def touch_v3_campaigns(self, campaign_ids, at: datetime | None = None) -> list[dict]:
        """Stamp these campaigns' updated_at with `at`."""
        return self._change_v3(self.cc_v3_campaigns, "campaign_id", campaign_ids, updated_at=fmt_ms(as_utc(at)))

    def remove_v3_campaigns(self, campaign_ids, at: datetime | None = None) -> list[dict]:
        """Delete these campaigns as a user does: they stay listed, `Removed`, updated at `at`."""
        return self._change_v3(self.cc_v3_campaigns, "campaign_id", campaign_ids, current_status="Removed",
                               updated_at=fmt_ms(as_utc(at)))

    def v3_tag_counts(self) -> dict:
        """tag_id -> how many contacts carry the tag (the API's contacts_count)."""
        with self.lock:
            counts = dict.fromkeys((t["tag_id"] for t in self.cc_v3_tags), 0)
            for contact in self.cc_v3_contacts:
                for tag_id in contact["taggings"]:
                    counts[tag_id] += 1
            return counts

    # ================================================================ Cometly

    def _build_cometly(self, rng):
        n = int(self.sizes["cometly_contacts"])
        stamps = [self._when(rng) for _ in range(n)]
        # Same-second twins, and contacts exactly on local-day edges and DST changes, so that
        # window tiling at 1-second granularity is really tested.
        for j in rng.sample(range(n), n // 25) if n > 1 else []:
            stamps[j] = stamps[rng.randrange(n)]
        tz = self.cometly_tz
        specials = []
        for day in rng.sample(range(0, 630), 8):
            local_day = (EPOCH + timedelta(days=day)).astimezone(tz).date()
            start = datetime(local_day.year, local_day.month, local_day.day, tzinfo=tz)
            specials += [start, start + timedelta(seconds=86399)]
        specials += [datetime(2024, 3, 10, 7, 0, 0, tzinfo=UTC), datetime(2024, 11, 3, 5, 30, 0, tzinfo=UTC),
                     datetime(2024, 11, 3, 6, 30, 0, tzinfo=UTC)]
        for j, when in zip(rng.sample(range(n), min(n, len(specials))), specials):
            stamps[j] = when.astimezone(UTC)
        stamps.sort()
        self.cometly_contacts = []
        self._cometly_next_id = 10_001
        for created in stamps:
            self._cometly_new_contact(rng, created)
            self._cometly_next_id += rng.randint(0, 3)

    def _cometly_new_contact(self, rng, created: datetime) -> dict:
        first, last = self._pick(rng, FIRST_NAMES), self._pick(rng, LAST_NAMES)
        cid = self._cometly_next_id
        self._cometly_next_id += 1
        email = None if rng.random() < 0.03 else f"{_ascii_slug(first)}{cid}@example.net"
        extra = [f"{_ascii_slug(first)}.{k}.{cid}@example.com" for k in range(self._pick(rng, [0, 0, 1, 2]))]
        city, state, _, country, _ = self._pick(rng, PLACES)
        contact = {
            "id": cid,
            "email": email,
            "name": f"{first} {last}",
            "first_name": first,
            "last_name": last,
            "phone": None if rng.random() < 0.2 else f"+1{rng.randrange(2000000000, 9999999999)}",
            "location": None if rng.random() < 0.1 else ", ".join(p for p in (city, state, country) if p),
            "created_at": fmt_us(created),
            "updated_at": fmt_us(self._when(rng, created, created + timedelta(days=30))),
            "comet_tokens": [f"ct_{rng.getrandbits(64):016x}" for _ in range(self._pick(rng, [0, 1, 3, 5]))],
            "all_emails": ([email] if email else []) + extra,
            "profile_fields": self._cometly_profile_fields(random.Random(f"{self.seed}:cometly-profile:{cid}")),
        }
        self.cometly_contacts.append(contact)
        return contact

    @staticmethod
    def _cometly_profile_fields(rng) -> dict:
        """The 30 custom profile slots (1-15 text, 16-25 numbers, 26-30 dates); the space configures a few of each,
        and a contact fills some of those. Drawn from their own generator so the rest of the data stays put."""
        slots = {}
        for n in range(1, 31):
            value = None
            if n in CONFIGURED_PROFILE_SLOTS and rng.random() < 0.7:
                if n <= 15:
                    value = rng.choice(PROFILE_TEXTS)
                elif n <= 25:
                    value = rng.choice([rng.randint(0, 500), round(rng.uniform(0, 10_000), 2)])
                else:
                    value = (EPOCH + timedelta(days=rng.randrange(-3650, 600))).date().isoformat()
            slots[f"profile_field_{n}"] = value
        return slots

    def cometly_sorted(self):
        """(keys, contacts) ordered by (created_at, id)."""
        def build():
            contacts = sorted(self.cometly_contacts, key=lambda c: (c["created_at"], c["id"]))
            return [(c["created_at"], c["id"]) for c in contacts], contacts
        return self._cached("cometly", build)

    def cometly_range(self, start: datetime, end: datetime, keys=None,
                      readings: tuple[str, str] = ("inclusive", "inclusive")) -> tuple[int, int]:
        """Slice bounds in cometly_sorted() (or the given keys) of start <= created_at <= end (`readings` may make
        either bound exclusive, as Faults.bounds asks)."""
        keys = keys if keys is not None else self.cometly_sorted()[0]
        return bounds_slice(keys, fmt_us(start), fmt_us(end), *readings)

    def cometly_between(self, start: datetime, end: datetime,
                        readings: tuple[str, str] = ("inclusive", "inclusive")) -> list[dict]:
        """Contacts with start <= created_at <= end (aware datetimes, both ends inclusive unless `readings`)."""
        lo, hi = self.cometly_range(start, end, readings=readings)
        return self.cometly_sorted()[1][lo:hi]

    def cometly_local_window(self, start_local: str, end_local: str) -> list[dict]:
        """Ground truth for a request window given as 'YYYY-MM-DD HH:MM:SS' in the space timezone."""
        return self.cometly_between(self.cometly_to_utc(start_local), self.cometly_to_utc(end_local))

    def cometly_to_utc(self, local: str) -> datetime:
        naive = datetime.strptime(local, "%Y-%m-%d %H:%M:%S")
        return naive.replace(tzinfo=self.cometly_tz).astimezone(UTC)

    def set_cometly_created_at(self, contact_ids, at: datetime) -> list[dict]:
        """Move these contacts' created_at to `at` (updated_at too, when it would be earlier), in the list and in
        export files; returns them in the order of `contact_ids`."""
        stamp = fmt_us(as_utc(at))
        with self.lock:
            by_id = {c["id"]: c for c in self.cometly_contacts}
            moved = [by_id[int(cid)] for cid in contact_ids]
            for contact in moved:
                contact["created_at"] = stamp
                contact["updated_at"] = max(contact["updated_at"], stamp)
            self.cometly_contacts.sort(key=lambda c: (c["created_at"], c["id"]))
            self._bump()
            return moved

    def stamp_cometly_contacts_at(self, instants, count_each: int = 1) -> dict:
        """Put `count_each` contacts exactly on each instant (created_at): {instant: [contacts]}."""
        with self.lock:
            pairs = self._pick_for_instants(self._edge_rng("cometly"), [c["id"] for c in self.cometly_contacts],
                                            instants, count_each)
            return {at: self.set_cometly_created_at(ids, at) for at, ids in pairs}

    def add_cometly_contacts(self, n: int = 1, at: datetime | None = None) -> list[dict]:
        """Create `n` contacts with created_at = updated_at = `at`; returns them."""
        at = as_utc(at)
        with self.lock:
            rng = random.Random(f"{self.seed}:cometly-add:{self._cometly_next_id}")
            added = []
            for _ in range(n):
                c = self._cometly_new_contact(rng, at)
                c["updated_at"] = c["created_at"]
                added.append(c)
            self._bump()
            return added
