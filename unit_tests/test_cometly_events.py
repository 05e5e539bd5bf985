"""cometly_events: windows in space time overlapping by a second, fields[], attribution params, pages of 4,000,
event names in groups of 10, state."""

import json

import pytest

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from tests.support.builders import COMETLY_URL, StrictHttpMocker, cometly_config, final_state, run_read

STREAM = "cometly_events"
AUTH = {"Authorization": "Bearer test-cometly-key"}
FIELDS = ["id", "profile_id", "company_id", "space_id", "event_name", "configured_name", "amount", "is_upsell", "event_time_utc",
          "order_id", "order_name", "event_url"]
TOUCHPOINTS = ["ad_id", "ad_name", "adset_id", "adset_name", "campaign_id", "campaign_name", "account_id", "account_name"]

# The last window ends when the sync starts: 2024-03-20T12:00:00Z.
pytestmark = pytest.mark.usefixtures("sync_started_at")


def _request(start: str, end: str, cursor: str = "", **extra: object) -> HttpRequest:
    params = {"per_page": "4000", "start_date": start, "end_date": end, "fields[]": FIELDS, **extra}
    if cursor:
        params["cursor"] = cursor
    return HttpRequest(f"{COMETLY_URL}/events", query_params=params, headers=AUTH)


def _page(events: list, next_cursor: str = None) -> HttpResponse:
    data = [{"id": i, "event_name": "purchase", "event_time_utc": t, "ad_id": "23850000000000501"} for i, t in events]
    return HttpResponse(json.dumps({"data": data, "next_cursor": next_cursor, "per_page": 4000, "prev_cursor": None}), 200)


def test_windows_in_space_time_overlap_by_a_second_and_pages_resend_the_window() -> None:
    config = cometly_config(timezone="America/New_York", events_window_days=60)
    with StrictHttpMocker() as http_mocker:
        # The slices tile in UTC (2024-01-01T00:00:00Z .. 2024-02-29T23:59:59Z, then to the sync's start); each goes out
        # one second wider at both ends, in New York time (UTC-5, UTC-4 from 2024-03-10).
        w1, w2 = ("2023-12-31 18:59:59", "2024-02-29 19:00:00"), ("2024-02-29 18:59:59", "2024-03-20 08:00:01")
        http_mocker.get(_request(*w1), _page([(1, "2024-01-01T00:00:00Z")], next_cursor="c1"))
        http_mocker.get(_request(*w1, cursor="c1"), _page([("2", "2024-02-29T23:59:59Z")]))
        http_mocker.get(_request(*w2), _page([(3, "2024-03-20T11:00:00Z")]))

        output = run_read(config, STREAM, SyncMode.incremental)

    assert [r.record.data["id"] for r in output.records] == [1, "2", 3]  # ids as the API sends them
    assert final_state(output) == {"event_time_utc": "2024-03-20T11:00:00Z"}


def test_attribution_adds_sources_model_window_and_the_touchpoint_fields() -> None:
    attribution = {"model": "u_shaped", "window_days": 0, "sources": ["facebook_ads", "google_organic"]}
    config = cometly_config(events_window_days=365, attribution=attribution)
    extra = {"fields[]": FIELDS + TOUCHPOINTS, "sources[]": ["facebook_ads", "google_organic"], "attribution_model": "u_shaped",
             "attribution_window": "0"}
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_request("2023-12-31 23:59:59", "2024-03-20 12:00:01", **extra), _page([(1, "2024-02-01T00:00:00Z")]))

        output = run_read(config, STREAM)

    assert output.records[0].record.data["ad_id"] == "23850000000000501"


def test_more_than_ten_event_names_are_sent_in_groups_of_ten_within_one_window() -> None:
    names = [f"custom_event_{n}" for n in range(1, 13)]
    config = cometly_config(events_window_days=365, event_names=names)
    window = ("2023-12-31 23:59:59", "2024-03-20 12:00:01")
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_request(*window, **{"event_names[]": names[:10]}), _page([(1, "2024-02-01T00:00:00Z")]))
        http_mocker.get(_request(*window, **{"event_names[]": names[10:]}), _page([(2, "2024-01-15T00:00:00Z")]))

        output = run_read(config, STREAM, SyncMode.incremental)

    assert sorted(r.record.data["id"] for r in output.records) == [1, 2]
    assert final_state(output) == {"event_time_utc": "2024-02-01T00:00:00Z"}
