"""The Constant Contact v3 engagement streams through the CDK with HttpMocker: the parents (campaigns, each campaign's
activities, their send history), the requests of each report (limit=500, include=permalink_url, no_clicks=true, ten
ids a stats call), no call for permalinks, Removed campaigns or final activities, and the state per activity."""

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Dict, List

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from source_contacts import SourceContacts
from tests.support.builders import V3_URL, StrictHttpMocker, final_state, run_read, stream_state, v3_access_token_config

AUTH = {"Authorization": "Bearer test-v3-token"}
RECENT = (datetime.now(timezone.utc) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
LONG_AGO = "2024-02-01T10:00:00.000Z"


def _json(body) -> HttpResponse:
    return HttpResponse(json.dumps(body), 200)


def _get(path: str, **query: str) -> HttpRequest:
    return HttpRequest(f"{V3_URL}{path}", query_params=query or None, headers=AUTH)


def mock_parents(http_mocker: StrictHttpMocker, activities: Dict[str, str], last_sent: Dict[str, str]) -> None:
    """Campaign c-1 (Done) with `activities` (id -> role) sent as `last_sent` says, and campaign c-9 (Removed), whose
    activities cannot be fetched."""
    campaigns = [
        {"campaign_id": "c-9", "name": "Gone", "current_status": "Removed", "updated_at": "2025-03-01T00:00:00.000Z"},
        {"campaign_id": "c-1", "name": "Spring", "current_status": "Done", "updated_at": "2025-02-01T00:00:00.000Z"},
    ]
    http_mocker.get(_get("/emails", limit="500", after_date="2023-12-31T23:59:59Z"), _json({"campaigns": campaigns}))
    refs = [{"campaign_activity_id": aid, "role": role} for aid, role in activities.items()]
    http_mocker.get(_get("/emails/c-1"), _json({**campaigns[1], "campaign_activities": refs}))
    for aid, sent in last_sent.items():
        history = [{"send_id": 1, "count": 0, "run_date": "2024-01-10T00:00:00.000Z", "send_status": "ERRORED"},
                   {"send_id": 2, "count": 9, "run_date": sent, "send_status": "COMPLETED"}]
        http_mocker.get(_get(f"/emails/activities/{aid}/send_history"), _json(history))


def opens(aid: str, *stamps: str) -> List[dict]:
    return [{"contact_id": f"k-{i}", "campaign_activity_id": aid, "tracking_activity_type": "em_opens",
             "email_address": f"k{i}@example.com", "created_time": stamp} for i, stamp in enumerate(stamps)]


def activity_state(stream: str, cursors: Dict[str, str]) -> list:
    """A tracking stream's state as the CDK saves it: per activity, the partition naming its parents (campaign c-1)."""
    states = [{"partition": {"campaign_activity_id": aid, "parent_slice": {"campaign_activity_id": aid, "parent_slice": {"campaign_id": "c-1", "parent_slice": {}}}},
               "cursor": {"created_time": cursor}} for aid, cursor in cursors.items()]
    return stream_state(stream, {"use_global_cursor": False, "states": states})


def records_of(output) -> List[dict]:
    return [message.record.data for message in output.records]


def test_a_full_refresh_reads_every_page_of_each_sent_activity_and_saves_a_cursor_per_activity() -> None:
    with StrictHttpMocker() as http_mocker:
        mock_parents(http_mocker, {"a-1": "primary_email", "a-2": "permalink", "a-3": "resend"}, {"a-1": LONG_AGO, "a-3": RECENT})
        first_page = opens("a-1", "2025-02-03T10:00:00.000Z", "2025-02-02T09:00:00.000Z")
        http_mocker.get(_get("/reports/email_reports/a-1/tracking/opens", limit="500"),
                        _json({"tracking_activities": first_page, "_links": {"next": {"href": "/v3/reports/email_reports/a-1/tracking/opens?next=p2"}}}))
        http_mocker.get(_get("/reports/email_reports/a-1/tracking/opens", next="p2"),
                        _json({"tracking_activities": opens("a-1", "2025-02-01T08:00:00.000Z")}))
        http_mocker.get(_get("/reports/email_reports/a-3/tracking/opens", limit="500"),
                        _json({"tracking_activities": opens("a-3", "2025-02-05T00:00:00+05:30")}))

        output = run_read(v3_access_token_config(), "cc_email_opens", SyncMode.incremental)

    assert sorted(r["created_time"] for r in records_of(output)) == [
        "2025-02-01T08:00:00.000Z", "2025-02-02T09:00:00.000Z", "2025-02-03T10:00:00.000Z", "2025-02-04T18:30:00Z"]
    states = {s["partition"]["campaign_activity_id"]: s["cursor"] for s in final_state(output)["states"]}
    assert states == {"a-1": {"created_time": "2025-02-03T10:00:00Z"}, "a-3": {"created_time": "2025-02-04T18:30:00Z"}}


def test_an_incremental_read_stops_at_the_first_event_older_than_the_cursor_and_skips_final_activities() -> None:
    state = activity_state("cc_email_opens", {"a-1": "2025-02-02T09:00:00Z", "a-3": "2025-02-02T09:00:00Z"})
    with StrictHttpMocker() as http_mocker:
        # a-1 was last sent long ago and was read before: final, no call. a-3 is in its window.
        mock_parents(http_mocker, {"a-1": "primary_email", "a-3": "resend"}, {"a-1": LONG_AGO, "a-3": RECENT})
        page = opens("a-3", "2025-02-03T10:00:00.000Z", "2025-02-02T09:00:00.000Z", "2025-02-01T00:00:00.000Z")
        # A next link that must not be followed: the page already reached the cursor.
        http_mocker.get(_get("/reports/email_reports/a-3/tracking/opens", limit="500"),
                        _json({"tracking_activities": page, "_links": {"next": {"href": "/v3/reports/email_reports/a-3/tracking/opens?next=p2"}}}))

        output = run_read(v3_access_token_config(engagement_window_days=30), "cc_email_opens", SyncMode.incremental, state=state)

    # The event on the cursor is read again (inclusive); the older one on the same page is not emitted.
    assert [r["created_time"] for r in records_of(output)] == ["2025-02-03T10:00:00.000Z", "2025-02-02T09:00:00.000Z"]
    states = {s["partition"]["campaign_activity_id"]: s["cursor"]["created_time"] for s in final_state(output)["states"]}
    assert states == {"a-1": "2025-02-02T09:00:00Z", "a-3": "2025-02-03T10:00:00Z"}


def test_campaign_activities_ask_for_the_permalink_url_and_carry_their_campaign() -> None:
    with StrictHttpMocker() as http_mocker:
        mock_parents(http_mocker, {"a-1": "primary_email", "a-2": "permalink"}, {})
        for aid, role in (("a-1", "primary_email"), ("a-2", "permalink")):
            http_mocker.get(_get(f"/emails/activities/{aid}", include="permalink_url"),
                            _json({"campaign_activity_id": aid, "campaign_id": "c-1", "role": role, "permalink_url": "https://conta.cc/x"}))

        output = run_read(v3_access_token_config(), "cc_email_campaign_activities")

    assert sorted(records_of(output), key=lambda r: r["campaign_activity_id"]) == [
        {"campaign_activity_id": aid, "campaign_id": "c-1", "role": role, "permalink_url": "https://conta.cc/x",
         "campaign_updated_at": "2025-02-01T00:00:00.000Z", "campaign_name": "Spring"}
        for aid, role in (("a-1", "primary_email"), ("a-2", "permalink"))
    ]


def test_stats_go_ten_ids_a_call_with_keys_underscored_and_errors_skipped() -> None:
    ids = [f"a-{i:02d}" for i in range(12)]
    with StrictHttpMocker() as http_mocker:
        mock_parents(http_mocker, {aid: "resend" for aid in ids}, {aid: RECENT for aid in ids})
        for group in (ids[:10], ids[10:]):
            results = [{"campaign_id": "c-1", "campaign_activity_id": aid, "stats": {"em_opens.all.mobile": 3, "em_sends": 9},
                        "last_refresh_time": "2025-02-05T00:00:00.000Z"} for aid in group[1:]]
            errors = [{"error_key": "reportingsvc.not_found", "error_message": f"no stats for {group[0]}"}]
            http_mocker.get(_get(f"/reports/stats/email_campaign_activities/{','.join(group)}"), _json({"errors": errors, "results": results}))

        output = run_read(v3_access_token_config(), "cc_email_campaign_activity_stats")

    assert sorted(r["campaign_activity_id"] for r in records_of(output)) == ids[1:10] + ids[11:]
    assert {json.dumps(r["stats"]) for r in records_of(output)} == {json.dumps({"em_opens_all_mobile": 3, "em_sends": 9})}


def test_links_include_the_unclicked_ones_and_carry_their_activity() -> None:
    with StrictHttpMocker() as http_mocker:
        mock_parents(http_mocker, {"a-1": "primary_email", "a-2": "permalink"}, {"a-1": RECENT})
        links = [{"link_url": "https://example.com/", "url_id": "11", "unique_clicks": 0}]
        http_mocker.get(_get("/reports/email_reports/a-1/links", no_clicks="true"), _json({"campaign_activity_id": "a-1", "link_click_counts": links}))

        output = run_read(v3_access_token_config(), "cc_email_links")

    assert records_of(output) == [{**links[0], "campaign_activity_id": "a-1"}]


def test_send_history_is_every_send_of_each_reportable_activity() -> None:
    with StrictHttpMocker() as http_mocker:
        mock_parents(http_mocker, {"a-1": "primary_email", "a-2": "permalink"}, {"a-1": "2025-02-01T10:00:00-05:00"})

        output = run_read(v3_access_token_config(), "cc_email_send_history")

    assert [(r["campaign_activity_id"], r["send_id"], r["run_date"]) for r in records_of(output)] == [
        ("a-1", 1, "2024-01-10T00:00:00.000Z"), ("a-1", 2, "2025-02-01T15:00:00Z")]


# stream: (primary key, cursor field or None for full refresh only), as the contract's table says.
CONTRACT = {
    "cc_email_campaign_activities": (["campaign_activity_id"], "campaign_updated_at"),
    "cc_email_send_history": (["campaign_activity_id", "send_id"], None),
    "cc_email_sends": (["campaign_activity_id", "contact_id"], "created_time"),
    "cc_email_opens": (["campaign_activity_id", "contact_id", "created_time"], "created_time"),
    "cc_email_unique_opens": (["campaign_activity_id", "contact_id"], "created_time"),
    "cc_email_clicks": (["campaign_activity_id", "contact_id", "url_id", "created_time"], "created_time"),
    "cc_email_bounces": (["campaign_activity_id", "contact_id", "created_time"], "created_time"),
    "cc_email_optouts": (["campaign_activity_id", "contact_id"], "created_time"),
    "cc_email_forwards": (["campaign_activity_id", "contact_id", "created_time"], "created_time"),
    "cc_email_did_not_opens": (["campaign_activity_id", "contact_id"], None),
    "cc_email_campaign_activity_stats": (["campaign_activity_id"], None),
    "cc_email_links": (["campaign_activity_id", "url_id"], None),
}


def test_the_twelve_streams_are_discovered_with_the_contracts_keys_cursors_and_sync_modes() -> None:
    config = v3_access_token_config()

    catalog = SourceContacts(config=config).discover(logging.getLogger(), config)

    discovered = {s.name: s for s in catalog.streams if s.name in CONTRACT}
    assert set(discovered) == set(CONTRACT)
    for name, (key, cursor) in CONTRACT.items():
        stream = discovered[name]
        assert stream.source_defined_primary_key == [[field] for field in key], name
        assert stream.default_cursor_field == ([cursor] if cursor else None), name
        assert [m.value for m in stream.supported_sync_modes] == (["full_refresh", "incremental"] if cursor else ["full_refresh"]), name
