"""The Emulator: two listeners (API + presigned-file host), the dataset, fault switches and jobs."""
from __future__ import annotations

from .cc_v2 import ACCESS_TOKEN as V2_ACCESS_TOKEN
from .cc_v2 import API_KEY as V2_API_KEY
from .cc_v2 import CcV2
from .cc_v3 import CLIENT_ID, CLIENT_SECRET, CcV3
from .cc_v3_engagement import CcV3Engagement
from .cometly import API_KEY as COMETLY_API_KEY
from .cometly import Cometly
from .cometly_events import CometlyEvents
from .dataset import Dataset
from .faults import Faults
from .jobs import JobStore
from .server import Listener, RequestLog, Router


class Emulator:
    """Local stand-in for Constant Contact v2, v3 and Cometly.

    emu = Emulator(seed=7); emu.start(); ... emu.stop()   (or `with Emulator() as emu:`)
    """

    def __init__(self, seed: int = 7, cometly_timezone: str = "America/New_York", sizes: dict | None = None,
                 reuse_export_files: bool = False, v2_api_key: str = V2_API_KEY, v2_access_token: str = V2_ACCESS_TOKEN,
                 cometly_api_key: str = COMETLY_API_KEY, v3_client_id: str = CLIENT_ID,
                 v3_client_secret: str = CLIENT_SECRET):
        """reuse_export_files: build each export file once per identical request (benchmarks; see jobs.py).

        The secrets the emulator accepts (compared exactly; the v2 api_key after URL-decoding the query) may be
        anything, e.g. 'a+b/c=d&e%f' or with whitespace, so that tests can check how a client encodes and masks
        them; config() hands them out. They are attributes too, read at each request."""
        self.v2_api_key, self.v2_access_token, self.cometly_api_key = v2_api_key, v2_access_token, cometly_api_key
        self.v3_client_id, self.v3_client_secret = v3_client_id, v3_client_secret
        self.seed = seed
        self.cometly_timezone = cometly_timezone
        self.data = Dataset(seed, sizes, cometly_timezone)
        self.faults = Faults()
        self.jobs = JobStore(self.faults, reuse_export_files)
        self.requests = RequestLog()
        self.file_requests = RequestLog()
        self._api_router, self._file_router = Router(), Router()
        self._cc_v3 = CcV3(self)
        self.oauth = self._cc_v3.oauth
        cometly = Cometly(self)
        self.cometly_events = CometlyEvents(self, cometly)   # handlers; .data is the events/companies ground truth
        self._apis = [CcV2(self), self._cc_v3, CcV3Engagement(self, self._cc_v3), cometly, self.cometly_events]
        for api in self._apis:
            api.register(self._api_router)
            if hasattr(api, "register_files"):
                api.register_files(self._file_router)
        self._api = self._files = None

    # ------------------------------------------------------------ lifecycle

    def start(self, port: int = 0, files_port: int = 0) -> "Emulator":
        """Bind both listeners on 127.0.0.1 (port 0 = ephemeral) and serve in background threads."""
        self._api = Listener(self._serve_api, self.requests, port=port)
        self._files = Listener(self._serve_files, self.file_requests, port=files_port)
        self._api.start()
        self._files.start()
        return self

    def stop(self):
        for listener in (self._api, self._files):
            if listener:
                listener.stop()
        self._api = self._files = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        """Base URL of the API listener (all three APIs, path-prefixed)."""
        if self._api is None:
            raise RuntimeError("Emulator is not started")
        return self._api.url

    @property
    def files_url(self) -> str:
        """Base URL of the presigned-file host (Cometly download_url)."""
        if self._files is None:
            raise RuntimeError("Emulator is not started")
        return self._files.url

    def reset_log(self):
        self.requests.clear()
        self.file_requests.clear()

    # ------------------------------------------------------------ credentials and mutations

    def issue_access_token(self) -> str:
        """A valid v3 access token (for `access_token` credential mode), alive access_token_ttl seconds."""
        return self.oauth.issue_access_token()

    @property
    def current_refresh_token(self) -> str:
        """The one v3 refresh token that works right now (it rotates on every refresh)."""
        return self.oauth.current_refresh_token

    def touch_v2_members(self, list_id, contact_ids, at=None):
        return self.data.touch_v2_members(list_id, contact_ids, at)

    def add_v2_member(self, list_id, email=None, first_name=None, last_name=None, at=None):
        return self.data.add_v2_member(list_id, email, first_name, last_name, at)

    def touch_v2_lists(self, list_ids, at=None):
        return self.data.touch_v2_lists(list_ids, at)

    def touch_v3_contacts(self, contact_ids, at=None):
        return self.data.touch_v3_contacts(contact_ids, at)

    def opt_out_v3_contacts(self, contact_ids, at=None):
        return self.data.opt_out_v3_contacts(contact_ids, at)

    def touch_v3_lists(self, list_ids, at=None):
        return self.data.touch_v3_lists(list_ids, at)

    def touch_v3_custom_fields(self, custom_field_ids, at=None):
        return self.data.touch_v3_custom_fields(custom_field_ids, at)

    def touch_v3_tags(self, tag_ids, at=None):
        return self.data.touch_v3_tags(tag_ids, at)

    def touch_v3_segments(self, segment_ids, at=None):
        return self.data.touch_v3_segments(segment_ids, at)

    def touch_v3_campaigns(self, campaign_ids, at=None):
        return self.data.touch_v3_campaigns(campaign_ids, at)

    def remove_v3_campaigns(self, campaign_ids, at=None):
        return self.data.remove_v3_campaigns(campaign_ids, at)

    def add_engagement(self, campaign_activity_id, opens=0, clicks=0, at=None, contact_ids=None) -> dict:
        """Opens and clicks at `at` (default now) on a sent activity; see EngagementData.add_engagement."""
        return self.data.engagement.add_engagement(campaign_activity_id, opens, clicks, at, contact_ids)

    def engagement_truth(self, stream, fill_nulls=False, no_clicks=True, activity_ids=None) -> list:
        """The records an engagement stream should emit (full refresh); see EngagementData.truth."""
        with self.data.lock:
            return self.data.engagement.truth(stream, fill_nulls, no_clicks, activity_ids)

    def cc_v3_calls_today(self) -> int:
        """v3 calls counted against the daily quota since 00:00 UTC (emu.faults.cc_clock)."""
        return self.faults.cc_calls_today("cc_v3")

    def add_cometly_contacts(self, n=1, at=None):
        return self.data.add_cometly_contacts(n, at)

    # Records on given instants (window edges, far-future stamps): see the Dataset methods.

    def set_v3_contact_updated_at(self, contact_id, at):
        return self.data.touch_v3_contacts([contact_id], at)[0]

    def stamp_v3_contacts_at(self, instants, count_each=1):
        return self.data.stamp_v3_contacts_at(instants, count_each)

    def set_cometly_created_at(self, contact_ids, at):
        return self.data.set_cometly_created_at(contact_ids, at)

    def stamp_cometly_contacts_at(self, instants, count_each=1):
        return self.data.stamp_cometly_contacts_at(instants, count_each)

    def stamp_v2_members_at(self, list_id, instants, count_each=1):
        return self.data.stamp_v2_members_at(list_id, instants, count_each)

    def set_v2_date_added(self, list_id, contact_ids, at):
        return self.data.set_v2_date_added(list_id, contact_ids, at)

    # Cometly events and companies (ground truth and mutations: cometly_events_data.CometlyEventsData).

    def add_cometly_events(self, n=1, at=None, event_name=None, company=True):
        """Add `n` events at `at` (default now); returns their full wire dicts under the current id style."""
        return self.cometly_events.data.add_events(n, at, event_name, company, self.faults.cometly_event_ids)

    def add_cometly_companies(self, n=1, at=None):
        return self.cometly_events.data.add_companies(n, at)

    def cometly_events_truth(self, start_local, end_local, event_names=None, attribution=None, fields=None,
                             query_mode="profile", start_inclusive=None, end_inclusive=None):
        """The records GET /events serves for a window ('YYYY-MM-DD HH:MM:SS', space time zone), oldest first.
        Bounds default to the current switches; fields None = every field (touchpoint ones with attribution,
        given as the config shape {"model", "window_days", "sources"})."""
        f = self.faults
        return self.cometly_events.data.events_truth(
            start_local, end_local, f.cometly_events_start_inclusive if start_inclusive is None else start_inclusive,
            f.cometly_events_end_inclusive if end_inclusive is None else end_inclusive, event_names, attribution,
            fields, query_mode, f.cometly_event_ids)

    def cometly_events_export_truth(self, day, event_names=None, attribution=None, fields=None, query_mode="profile"):
        """The lines of the export of local day 'YYYY-MM-DD' (00:00:00-23:59:59 inclusive), oldest first."""
        return self.cometly_events.data.export_day_truth(day, event_names, attribution, fields, query_mode,
                                                         self.faults.cometly_event_ids)

    def cometly_companies_truth(self, start_local=None, end_local=None):
        """Companies created on or after start and on or before end (both optional), oldest first."""
        return self.cometly_events.data.companies_truth(start_local, end_local)

    # ------------------------------------------------------------ config

    def config(self) -> dict:
        """A full connector config pointing at this emulator with valid credentials."""
        url = self.url
        return {
            "start_date": "2024-01-01T00:00:00Z",
            "constant_contact": {
                "credentials": {"auth_type": "oauth2.0", "client_id": self.v3_client_id,
                                "client_secret": self.v3_client_secret,
                                "refresh_token": self.oauth.current_refresh_token},
                "api_url": f"{url}/v3",
                "token_url": f"{url}/oauth2/default/v1/token",
            },
            "constant_contact_v2": {"api_key": self.v2_api_key, "access_token": self.v2_access_token,
                                    "api_url": f"{url}/v2"},
            "cometly": {"api_key": self.cometly_api_key, "api_url": f"{url}/public-api/v1",
                        "timezone": self.cometly_timezone, "window_days": 365},
        }

    # ------------------------------------------------------------ request entry points

    def _serve_api(self, req):
        return self.faults.spoil(req, self.faults.take_path_fault(req.path)
                                 or self.faults.restamp_response(self._api_router.dispatch(req)))

    def _serve_files(self, req):
        return self.faults.spoil(req, self.faults.take_path_fault(req.path) or self._file_router.dispatch(req))
