"""Ground truth for Cometly events and companies, seeded like dataset.py and built lazily.

Built on first use, not in Emulator(), so that emulators which never touch events pay nothing. Everything is
drawn from generators seeded by the dataset's seed (and the contact ids as the dataset built them), so two
emulators with the same seed, sizes and space time zone hold identical events and companies.

Events are kept as compact tuples sorted by (event time, internal number); the wire dicts are built per request
by `view()`. The internal number `n` is the event's id; how it is served (integer or string) follows
`id_style` (see `wire_ids`).

Shape of the default data (sizes `cometly_events`, `cometly_events_days`, `cometly_events_dense_day`,
`cometly_companies` override it):
- a history of `cometly_events_days` (90) local days ending the day before the horizon (2025-10-01 UTC),
  with ordinary days, four empty days (two of them in a row), a sparse week (about one event a day), one
  dense day holding `cometly_events_dense_day` (4,500: more than one page of 4,000) and one moderately dense day;
- two isolated days outside the history: 2025-03-09 and 2024-11-03, the DST days of America/New_York (23 and
  25 hours there), with events on both sides of the skipped hour and in both passes of the repeated one;
- events at exactly 00:00:00 and 23:59:59 local on a third of the days (always on the special ones), at
  00:00:00 UTC on some days, at the history's first and last second, and same-second twins (also at a local
  midnight, so a cursor must break ties by id).
"""
from __future__ import annotations

import bisect
import random
import threading
from datetime import date, datetime, timedelta

from .common import UTC, as_utc

HORIZON = datetime(2025, 10, 1, tzinfo=UTC)   # the dataset's horizon (dataset.HORIZON)
COMPANY_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_EVENTS = 9000
DEFAULT_DAYS = 90
DEFAULT_DENSE_DAY = 4500
DEFAULT_COMPANIES = 500
SPACE_ID = 7291
FIRST_EVENT_ID = 8001
FIRST_COMPANY_ID = 301
# The DST days of America/New_York in the data: 23 hours (clocks skip 02:00-03:00) and 25 hours (01:00-02:00 twice).
DST_SHORT_DAY = date(2025, 3, 9)
DST_LONG_DAY = date(2024, 11, 3)
# Fixed UTC instants on those days: around the skipped hour, and the repeated hour's edges in both passes.
DST_INSTANTS = [
    datetime(2025, 3, 9, 6, 59, 59, tzinfo=UTC), datetime(2025, 3, 9, 7, 0, 0, tzinfo=UTC),
    datetime(2025, 3, 9, 7, 30, 0, tzinfo=UTC),
    datetime(2024, 11, 3, 5, 0, 0, tzinfo=UTC), datetime(2024, 11, 3, 5, 30, 0, tzinfo=UTC),
    datetime(2024, 11, 3, 5, 59, 59, tzinfo=UTC), datetime(2024, 11, 3, 6, 0, 0, tzinfo=UTC),
    datetime(2024, 11, 3, 6, 30, 0, tzinfo=UTC), datetime(2024, 11, 3, 6, 59, 59, tzinfo=UTC),
    datetime(2024, 11, 3, 7, 0, 0, tzinfo=UTC),
]

STANDARD_EVENTS = ("add_payment_info", "add_to_cart", "complete_registration", "contact", "initiate_checkout",
                   "lead_generated", "purchase", "schedule", "sign_up", "start_trial", "submit_application",
                   "subscribe", "upsell_purchase", "view_content", "webinar_registration")
CUSTOM_EVENTS = tuple(f"custom_event_{i}" for i in range(1, 51))
EVENT_NAMES = STANDARD_EVENTS + CUSTOM_EVENTS
# The custom events this space has configured, with their labels (configured_name).
CUSTOM_LABELS = {"custom_event_1": "Booked Demo", "custom_event_2": "Qualified Lead, \"Hot\"",
                 "custom_event_7": "Réservation confirmée", "custom_event_50": "Churned"}
# Names the generator draws, with weights: every standard name appears, and four custom ones.
_NAME_POOL = (["view_content"] * 20 + ["add_to_cart"] * 8 + ["initiate_checkout"] * 5 + ["lead_generated"] * 6
              + ["purchase"] * 6 + ["sign_up"] * 4 + list(STANDARD_EVENTS) + ["upsell_purchase"]
              + list(CUSTOM_LABELS) * 2)
_REVENUE = {"purchase", "upsell_purchase", "subscribe"}

PAID_SOURCES = ("facebook_ads", "google_ads", "linkedin_ads", "tiktok_ads", "youtube_ads", "instagram_ads", "bing_ads",
                "yahoo_ads", "pinterest_ads", "reddit_ads", "snapchat_ads", "telegram_ads", "twitch_ads", "x_ads",
                "quora_ads", "duckduckgo_ads")
ORGANIC_SOURCES = ("facebook_organic", "google_organic", "linkedin_organic", "tiktok_organic", "youtube_organic",
                   "instagram_organic", "bing_organic", "yahoo_organic", "pinterest_organic", "reddit_organic",
                   "snapchat_organic", "telegram_organic", "twitch_organic", "x_organic", "quora_organic",
                   "duckduckgo_organic", "messenger_organic", "brave_organic")
SOURCES = PAID_SOURCES + ORGANIC_SOURCES          # only the values the stored docs show
ATTRIBUTION_MODELS = ("first_touch", "last_touch", "last_non_direct_touch", "linear", "linear_paid_ads", "u_shaped",
                      "first_touch_source_specific", "last_touch_source_specific")
ATTRIBUTION_WINDOWS = (0, 1, 7, 14, 30, 60, 90)   # 0 = LTV (no lookback limit)
_TP_SOURCES = ("facebook_ads",) * 4 + ("google_ads",) * 3 + ("tiktok_ads", "linkedin_ads", "google_organic",
                                                            "facebook_organic", "x_organic")
_TP_DAYS_BEFORE = (0, 0, 1, 3, 6, 10, 20, 45, 80, 200)

BASE_FIELDS = ("id", "profile_id", "company_id", "space_id", "event_name", "configured_name", "amount", "is_upsell",
               "event_time_utc", "order_id", "order_name", "event_url")
TOUCHPOINT_FIELDS = ("ad_id", "ad_name", "adset_id", "adset_name", "campaign_id", "campaign_name", "account_id",
                     "account_name")
ALL_FIELDS = BASE_FIELDS + TOUCHPOINT_FIELDS
MINIMAL_FIELDS = ("id", "event_time_utc")        # MCP list_events' documented default for `fields`
ID_STYLES = ("mixed", "int", "str")

_URLS = ("https://shop.example.com/checkout/thank-you", "https://shop.example.com/products/spring?utm_source=fb",
         "https://www.example.com/demo", "https://www.example.com/pricing#plans", None)
_PRODUCTS = ("Starter plan", "Pro plan, annual", 'Gift card "50"', "Café bundle", "Pack of 3")
_CAMPAIGNS = ("Spring Sale — 20% off", "Retargeting, \"VIP\"", "Brand", "Webinar Q3", "Prospecting LAL 1%")
_DOMAIN_WORDS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "piedpiper", "vandelay", "soylent",
                 "muller-sohne", "yamada", "wayne", "tyrell", "cyberdyne", "wonka")
_TLDS = ("com", "io", "co.uk", "de", "net", "com.br")


def wire_ids(n: int, profile: int, company: int | None, style: str):
    """(id, profile_id, company_id, space_id) as served. "mixed" (the default): id is a string when n % 3 == 0,
    profile_id when n % 5 == 0, company_id when n % 2 == 0, space_id except when n % 7 == 0; integers otherwise.
    "int"/"str": every id of that type. company_id may be null in every style."""
    if style == "int":
        return n, profile, company, SPACE_ID
    if style == "str":
        return str(n), str(profile), None if company is None else str(company), str(SPACE_ID)
    return (str(n) if n % 3 == 0 else n, str(profile) if n % 5 == 0 else profile,
            None if company is None else (str(company) if n % 2 == 0 else company),
            SPACE_ID if n % 7 == 0 else str(SPACE_ID))


def fmt_ts(ts: int) -> str:
    """Unix seconds -> '2024-01-15T10:23:45Z'."""
    return datetime.fromtimestamp(ts, UTC).isoformat()[:19] + "Z"


class Attribution:
    """A request's attribution settings; `None` everywhere means no attribution (no touchpoint fields)."""

    __slots__ = ("sources", "model", "window")

    def __init__(self, sources, model: str, window: int):
        self.sources, self.model, self.window = frozenset(sources), model, int(window)

    @classmethod
    def from_config(cls, config: dict | None):
        """From the connector config's shape {"model", "window_days", "sources"} (or None)."""
        return None if not config else cls(config["sources"], config["model"], config["window_days"])

    def key(self):
        return (tuple(sorted(self.sources)), self.model, self.window)


class CometlyEventsData:
    def __init__(self, dataset):
        self.seed = dataset.seed
        self.tz = dataset.cometly_tz
        sizes = dataset.sizes
        self.n_events = int(sizes.get("cometly_events", DEFAULT_EVENTS))
        self.n_days = int(sizes.get("cometly_events_days", DEFAULT_DAYS))
        self.n_dense = int(sizes.get("cometly_events_dense_day", DEFAULT_DENSE_DAY))
        self.n_companies = int(sizes.get("cometly_companies", DEFAULT_COMPANIES))
        # The contacts as the dataset built them (before any mutation), so the events do not depend on call order.
        self._contacts = [c["id"] for c in dataset.cometly_contacts]
        self.lock = threading.RLock()
        self._built = False
        self._days = {}

    # ------------------------------------------------------------ build

    def _ensure(self):
        if not self._built:
            with self.lock:
                if not self._built:
                    self._build_companies(random.Random(f"{self.seed}:cometly-companies"))
                    self._build_events(random.Random(f"{self.seed}:cometly-events"))
                    self._built = True

    @property
    def days(self) -> dict:
        """The special local days ('YYYY-MM-DD'): history (first, last), empty, sparse, dense, busy, dst_23h, dst_25h."""
        self._ensure()
        return self._days

    def local_day_bounds(self, day: date) -> tuple[int, int]:
        """Unix seconds of 00:00:00 and 23:59:59 of a local day (a DST day spans 23 or 25 hours)."""
        start = datetime(day.year, day.month, day.day, tzinfo=self.tz)
        end = datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=self.tz)
        return int(start.timestamp()), int(end.timestamp())

    def _build_companies(self, rng):
        lo, span = int(COMPANY_EPOCH.timestamp()), int((HORIZON - COMPANY_EPOCH).total_seconds())
        stamps = [lo + rng.randrange(span) for _ in range(self.n_companies)]
        if self.n_companies >= 10:   # on local-day edges, and a same-second pair
            for j, day in enumerate((date(2024, 6, 1), date(2025, 1, 15), date(2025, 9, 1))):
                first, last = self.local_day_bounds(day)
                stamps[3 * j], stamps[3 * j + 1] = first, last
                stamps[3 * j + 2] = first
        stamps.sort()
        self.companies = []   # (created ts, id, domain), sorted
        cid = FIRST_COMPANY_ID
        for ts in stamps:
            domain = f"{rng.choice(_DOMAIN_WORDS)}{cid}.{rng.choice(_TLDS)}"
            self.companies.append((ts, cid, domain))
            cid += 1 + (rng.random() < 0.2)
        self._next_company = cid
        self._company_keys = [(ts << 32) | cid for ts, cid, _ in self.companies]

    def _build_events(self, rng):
        tz = self.tz
        last_day = HORIZON.astimezone(tz).date() - timedelta(days=1)
        history = [last_day - timedelta(days=k) for k in range(self.n_days - 1, -1, -1)]
        weights = [1.0] * len(history)
        empty, sparse, dense, busy = set(), set(), None, None
        if len(history) >= 30:
            empty = {5, 17, 18, 40}
            sparse = set(range(50, 57))
            dense, busy = 70, 30
            for k in empty:
                weights[k] = 0.0
            for k in sparse:
                weights[k] = 0.0
            weights[busy] = 8.0
            weights[dense] = 0.0
        n = self.n_events
        n_dense = min(self.n_dense, n // 2) if dense is not None else 0
        n_sparse = len(sparse)
        spread = max(0, n - n_dense - n_sparse - 80)
        specials = [DST_SHORT_DAY, DST_LONG_DAY]
        stamps = []
        # Ordinary history: each day's share, uniform over its (local) seconds.
        total = sum(weights) or 1.0
        for k, day in enumerate(history):
            first, last = self.local_day_bounds(day)
            count = int(spread * weights[k] / total)
            if k in sparse:
                count = 1
            elif k == dense:
                count = n_dense
            span = last - first + 1
            stamps += [first + int(rng.random() * span) for _ in range(count)]
            if k not in empty and k not in sparse and (k % 3 == 0 or k in (dense, busy)):
                stamps += [first, last]
            if k % 10 == 4 and k not in empty and k not in sparse:   # 00:00:00 UTC of that date (a UTC-configured client's edge)
                stamps.append(int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()))
        for day in specials:
            first, last = self.local_day_bounds(day)
            stamps += [first, first, last] + [first + int(rng.random() * (last - first + 1)) for _ in range(30)]
        stamps += [int(t.timestamp()) for t in DST_INSTANTS]
        if history:
            first, _ = self.local_day_bounds(history[0])
            stamps += [first + 1, int(HORIZON.timestamp()) - 1]
        # Same-second twins.
        for _ in range(len(stamps) // 40):
            stamps.append(stamps[int(rng.random() * len(stamps))])
        stamps.sort()
        # Ids follow ingestion, mostly in time order; a few were ingested late (backfilled) and are out of order.
        ids = list(range(FIRST_EVENT_ID, FIRST_EVENT_ID + len(stamps)))
        for _ in range(len(ids) // 30):
            i, j = int(rng.random() * len(ids)), int(rng.random() * len(ids))
            ids[i], ids[j] = ids[j], ids[i]
        self._next_event = FIRST_EVENT_ID + len(stamps)
        contacts = self._contacts or [10_001]
        companies = [c[1] for c in self.companies] or [None]
        pick, rnd = self._pick_name, rng.random
        events = []
        for ts, eid in zip(stamps, ids):
            events.append(self._new_event(ts, eid, contacts[int(rnd() * len(contacts))],
                                          None if rnd() < 0.35 else companies[int(rnd() * len(companies))],
                                          pick(rnd()), rnd))
        events.sort()
        self.events = events
        self._keys = [(e[0] << 32) | e[1] for e in events]
        iso = date.isoformat
        self._days = {
            "history": (iso(history[0]), iso(history[-1])) if history else None,
            "empty": sorted(iso(history[k]) for k in empty),
            "sparse": sorted(iso(history[k]) for k in sparse),
            "dense": iso(history[dense]) if dense is not None else None,
            "busy": iso(history[busy]) if busy is not None else None,
            "dst_23h": iso(DST_SHORT_DAY), "dst_25h": iso(DST_LONG_DAY),
        }

    @staticmethod
    def _pick_name(r: float) -> str:
        return _NAME_POOL[int(r * len(_NAME_POOL))]

    @staticmethod
    def _new_event(ts, eid, profile, company, name, rnd) -> tuple:
        """(ts, n, profile, company, name, amount, is_upsell, url index, product index)."""
        if name in _REVENUE:
            r = rnd()
            amount = int(r * 500) if r < 0.4 else round(r * 1000, 2)
        else:
            amount = 0
        upsell = name == "upsell_purchase" or (name == "purchase" and rnd() < 0.1)
        return (ts, eid, profile, company, name, amount, upsell, int(rnd() * len(_URLS)), int(rnd() * len(_PRODUCTS)))

    # ------------------------------------------------------------ views

    @staticmethod
    def _touchpoint(n: int, seed: int, attribution: Attribution) -> dict:
        """The eight ad fields for one event under one attribution setting (all null when no touchpoint counts).

        Each event has 0-4 touchpoints, a source and days-before-event each. The window keeps those within it (0 =
        all), `sources` keeps those of the asked sources; first_touch, u_shaped and first_touch_source_specific
        credit the first left, linear_paid_ads the last paid one, the other models the last."""
        rng = random.Random(seed * 1_000_003 + n)
        tps = [(rng.choice(_TP_DAYS_BEFORE), rng.choice(_TP_SOURCES), rng.randrange(3), rng.randrange(5),
                rng.randrange(20)) for _ in range(rng.choice((0, 1, 1, 2, 3, 4)))]
        tps.sort(key=lambda t: -t[0])   # earliest first
        keep = [t for t in tps if t[1] in attribution.sources and (attribution.window == 0 or t[0] <= attribution.window)]
        model = attribution.model
        if model == "linear_paid_ads":
            keep = [t for t in keep if t[1].endswith("_ads")]
        if not keep:
            return dict.fromkeys(TOUCHPOINT_FIELDS)
        t = keep[0] if model in ("first_touch", "u_shaped", "first_touch_source_specific") else keep[-1]
        _, source, account, campaign, ad = t
        platform = source.split("_")[0].capitalize()
        base = 23_850_000_000_000_000
        account_id = f"{1_000_000_000 + account * 7919 + len(source)}"
        campaign_id = f"{base + account * 100_000 + campaign * 1000}"
        adset_id = f"{base + account * 100_000 + campaign * 1000 + 100 + ad % 4}"
        return {"ad_id": f"{base + account * 100_000 + campaign * 1000 + 500 + ad}",
                "ad_name": f"{platform} ad {ad}: {_PRODUCTS[ad % len(_PRODUCTS)]}",
                "adset_id": adset_id, "adset_name": f"{platform} ad set {ad % 4}",
                "campaign_id": campaign_id, "campaign_name": _CAMPAIGNS[campaign],
                "account_id": account_id, "account_name": f"{platform} account {account}"}

    def view(self, e: tuple, fields=None, attribution: Attribution | None = None, id_style: str = "mixed") -> dict:
        """The wire dict of one event: `fields` (an iterable of names; None = every field) in the canonical
        order; touchpoint fields only with attribution."""
        ts, n, profile, company, name, amount, upsell, url, product = e
        eid, pid, cid, sid = wire_ids(n, profile, company, id_style)
        revenue = name in _REVENUE
        out = {"id": eid, "profile_id": pid, "company_id": cid, "space_id": sid, "event_name": name,
               "configured_name": CUSTOM_LABELS.get(name, name), "amount": amount, "is_upsell": upsell,
               "event_time_utc": fmt_ts(ts),
               "order_id": f"ORD-{n}" if revenue else None,
               "order_name": f"Order #{n}: {_PRODUCTS[product]}" if revenue else None,
               "event_url": _URLS[url]}
        if attribution is not None:
            out.update(self._touchpoint(n, self.seed, attribution))
        if fields is not None:
            wanted = set(fields)
            out = {k: v for k, v in out.items() if k in wanted}
        return out

    @staticmethod
    def company_view(c: tuple) -> dict:
        return {"id": c[1], "domain": c[2], "created_at": fmt_ts(c[0])}

    # ------------------------------------------------------------ selection (shared by handlers and ground truth)

    def snapshot(self):
        """(events, keys): one consistent pair; keys[i] = ts << 32 | n."""
        self._ensure()
        with self.lock:
            return self.events, self._keys

    def company_snapshot(self):
        self._ensure()
        with self.lock:
            return self.companies, self._company_keys

    @staticmethod
    def span(keys, start_ts: int, end_ts: int, start_inclusive=True, end_inclusive=True) -> tuple[int, int]:
        """Slice bounds of the keys whose time lies within [start, end] under the given inclusiveness."""
        lo = bisect.bisect_left(keys, (start_ts if start_inclusive else start_ts + 1) << 32)
        hi = bisect.bisect_left(keys, (end_ts + 1 if end_inclusive else end_ts) << 32)
        return lo, max(lo, hi)

    def to_ts(self, local: str) -> int:
        """'YYYY-MM-DD HH:MM:SS' in the space time zone -> Unix seconds (an ambiguous time is its first pass, a
        skipped one moves forward, as PHP reads them)."""
        naive = datetime.strptime(local, "%Y-%m-%d %H:%M:%S")
        return int(naive.replace(tzinfo=self.tz).timestamp())

    # ------------------------------------------------------------ ground truth

    def select(self, start_ts, end_ts, start_inclusive=True, end_inclusive=True, event_names=None,
               query_mode="profile") -> list[tuple]:
        events, keys = self.snapshot()
        lo, hi = self.span(keys, start_ts, end_ts, start_inclusive, end_inclusive)
        names = set(event_names) if event_names else None
        return [e for e in events[lo:hi] if (names is None or e[4] in names)
                and (query_mode != "company" or e[3] is not None)]

    def events_truth(self, start_local: str, end_local: str, start_inclusive: bool = False,
                     end_inclusive: bool = False, event_names=None, attribution=None, fields=None,
                     query_mode: str = "profile", id_style: str = "mixed") -> list[dict]:
        """The records GET /events serves for this window, oldest first. attribution: an Attribution or the
        config shape {"model", "window_days", "sources"}; fields None = every field."""
        if isinstance(attribution, dict):
            attribution = Attribution.from_config(attribution)
        chosen = self.select(self.to_ts(start_local), self.to_ts(end_local), start_inclusive, end_inclusive,
                             event_names, query_mode)
        return [self.view(e, fields, attribution, id_style) for e in chosen]

    def export_day_truth(self, day: str, event_names=None, attribution=None, fields=None,
                         query_mode: str = "profile", id_style: str = "mixed") -> list[dict]:
        """The lines of the export of one local day ('YYYY-MM-DD', 00:00:00-23:59:59 inclusive), oldest first."""
        first, last = self.local_day_bounds(date.fromisoformat(day))
        if isinstance(attribution, dict):
            attribution = Attribution.from_config(attribution)
        return [self.view(e, fields, attribution, id_style)
                for e in self.select(first, last, True, True, event_names, query_mode)]

    def companies_truth(self, start_local: str | None = None, end_local: str | None = None) -> list[dict]:
        """Companies created on or after start and on or before end (both optional), oldest first."""
        companies, keys = self.company_snapshot()
        lo = 0 if start_local is None else bisect.bisect_left(keys, self.to_ts(start_local) << 32)
        hi = len(keys) if end_local is None else bisect.bisect_left(keys, (self.to_ts(end_local) + 1) << 32)
        return [self.company_view(c) for c in companies[lo:hi]]

    # ------------------------------------------------------------ mutations

    def add_events(self, n: int = 1, at: datetime | None = None, event_name: str | None = None,
                   company: bool = True, id_style: str = "mixed") -> list[dict]:
        """Add `n` events at `at` (default now, whole seconds) with new, higher ids; returns their full wire dicts
        (no attribution fields)."""
        self._ensure()
        ts = int(as_utc(at).timestamp())
        with self.lock:
            rng = random.Random(f"{self.seed}:cometly-events-add:{self._next_event}")
            events, keys = list(self.events), list(self._keys)
            added = []
            for _ in range(n):
                eid = self._next_event
                self._next_event += 1
                contact = self._contacts[int(rng.random() * len(self._contacts))] if self._contacts else 10_001
                comp = self.companies[int(rng.random() * len(self.companies))][1] if company and self.companies else None
                e = self._new_event(ts, eid, contact, comp, event_name or self._pick_name(rng.random()), rng.random)
                i = bisect.bisect_left(keys, (ts << 32) | eid)
                keys.insert(i, (ts << 32) | eid)
                events.insert(i, e)
                added.append(e)
            self.events, self._keys = events, keys   # swap whole lists: readers keep their snapshot
        return [self.view(e, id_style=id_style) for e in added]

    def add_companies(self, n: int = 1, at: datetime | None = None) -> list[dict]:
        """Add `n` companies created at `at` (default now); returns their wire dicts."""
        self._ensure()
        ts = int(as_utc(at).timestamp())
        with self.lock:
            companies, keys = list(self.companies), list(self._company_keys)
            added = []
            for _ in range(n):
                cid = self._next_company
                self._next_company += 1
                c = (ts, cid, f"new{cid}.example.com")
                i = bisect.bisect_left(keys, (ts << 32) | cid)
                keys.insert(i, (ts << 32) | cid)
                companies.insert(i, c)
                added.append(c)
            self.companies, self._company_keys = companies, keys
        return [self.company_view(c) for c in added]
