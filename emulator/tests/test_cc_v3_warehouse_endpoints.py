"""The emulator's v3 custom field, tag, segment, campaign and campaign summary endpoints, as the v3 reference documents them."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests

from emulator import Emulator

# path -> (envelope key, largest limit, default limit)
ENDPOINTS = {
    "/v3/contact_custom_fields": ("custom_fields", 100, 50),
    "/v3/contact_tags": ("tags", 500, 50),
    "/v3/segments": ("segments", 1000, 1000),
    "/v3/emails": ("campaigns", 500, 50),
    "/v3/reports/summary_reports/email_campaign_summaries": ("bulk_email_campaign_summaries", 500, 50),
}


@pytest.fixture(scope="module")
def emu():
    """One emulator for the tests that only read."""
    with Emulator() as emulator:
        yield emulator


def getter(emulator: Emulator):
    """GET a v3 path (or a `_links.next.href`) with a valid access token."""
    auth = {"Authorization": f"Bearer {emulator.issue_access_token()}"}
    return lambda path, **params: requests.get(emulator.url + path, params=params, headers=auth)


@pytest.fixture()
def get(emu: Emulator):
    return getter(emu)


def walk(get, path: str, **params) -> tuple[list, int]:
    """Every record of the endpoint, following `_links.next.href`, and the number of pages."""
    key, records, pages = ENDPOINTS[path][0], [], 0
    while path:
        body = get(path, **params).json()
        records += body[key]
        pages += 1
        path, params = body.get("_links", {}).get("next", {}).get("href"), {}
    return records, pages


@pytest.mark.parametrize("path", ENDPOINTS)
def test_limits_out_of_range_and_foreign_cursors_are_400s(get, path: str) -> None:
    key, largest, default = ENDPOINTS[path]
    for limit in (0, largest + 1, "ten"):
        r = get(path, limit=limit)
        assert (r.status_code, r.json()["error_key"]) == (400, "query.param.invalid")
    assert get(path, cursor="not-a-cursor").status_code == 400
    assert len(get(path).json()[key]) == min(default, len(walk(get, path)[0]))
    assert get(path, limit=largest).status_code == 200


def test_pages_hold_each_record_once_in_the_documented_order(emu: Emulator, get) -> None:
    data = emu.data
    fields, pages = walk(get, "/v3/contact_custom_fields", limit=2)
    assert (fields, pages) == (data.cc_v3_custom_fields, 2)

    # Segments by date: the most recently edited first, 1000 a page by default.
    segments, pages = walk(get, "/v3/segments")
    assert pages == 2
    assert segments == sorted(data.cc_v3_segments, key=lambda s: (s["edited_at"], s["segment_id"]), reverse=True)
    by_name, _ = walk(get, "/v3/segments", sort_by="name")
    assert [s["segment_id"] for s in by_name] == [s["segment_id"] for s in sorted(data.cc_v3_segments, key=lambda s: (s["name"], s["segment_id"]))]

    # Campaigns: the most recently updated first, Removed (deleted) ones included by default.
    campaigns, pages = walk(get, "/v3/emails", limit=500)
    assert pages == 3
    assert campaigns == sorted(data.cc_v3_campaigns, key=lambda c: (c["updated_at"], c["campaign_id"]), reverse=True)
    assert {c["current_status"] for c in campaigns} == {"Done", "Draft", "Scheduled", "Error", "Removed"}

    # Summaries: the most recently sent first, each for a campaign that exists.
    summaries, pages = walk(get, "/v3/reports/summary_reports/email_campaign_summaries", limit=500)
    assert pages == 2
    assert summaries == sorted(data.cc_v3_campaign_summaries, key=lambda s: (s["last_sent_date"], s["campaign_id"]), reverse=True)
    assert {s["campaign_id"] for s in summaries} <= {c["campaign_id"] for c in campaigns}


def test_summaries_pages_carry_their_aggregate_percents(get) -> None:
    body = get("/v3/reports/summary_reports/email_campaign_summaries", limit=2).json()
    counts = [s["unique_counts"] for s in body["bulk_email_campaign_summaries"]]
    sends = sum(c["sends"] for c in counts)
    assert body["aggregate_percents"]["open"] == round(100 * sum(c["opens"] for c in counts) / sends, 1)
    assert set(body["aggregate_percents"]) == {"click", "open", "did_not_open", "bounce", "unsubscribe"}


def test_tags_count_their_contacts_only_when_asked(emu: Emulator, get) -> None:
    plain = get("/v3/contact_tags").json()["tags"]
    assert plain == emu.data.cc_v3_tags and all("contacts_count" not in t for t in plain)

    counted = get("/v3/contact_tags", include_count="true").json()["tags"]
    expected = {t["tag_id"]: sum(t["tag_id"] in c["taggings"] for c in emu.data.cc_v3_contacts) for t in plain}
    assert {t["tag_id"]: t["contacts_count"] for t in counted} == expected
    assert all(expected.values())
    assert get("/v3/contact_tags", include_count="yes").status_code == 400


def test_campaign_dates_bound_updated_at_inclusively_and_a_removed_campaign_stays_listed(emulator: Emulator) -> None:
    get, data = getter(emulator), emulator.data
    pivot = sorted(c["updated_at"] for c in data.cc_v3_campaigns)[-40]
    after, _ = walk(get, "/v3/emails", after_date=pivot, limit=500)
    assert sorted(c["campaign_id"] for c in after) == sorted(c["campaign_id"] for c in data.cc_v3_campaigns if c["updated_at"] >= pivot)
    before, _ = walk(get, "/v3/emails", before_date=pivot, limit=500)
    assert len(before) + len(after) == len(data.cc_v3_campaigns) + sum(c["updated_at"] == pivot for c in data.cc_v3_campaigns)
    assert get("/v3/emails", after_date="last tuesday").status_code == 400

    done = next(c for c in data.cc_v3_campaigns if c["current_status"] == "Done")
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    emulator.remove_v3_campaigns([done["campaign_id"]], at=at)
    [removed] = get("/v3/emails", after_date="2030-01-02T03:04:05Z").json()["campaigns"]
    assert removed == {**done, "current_status": "Removed", "updated_at": "2030-01-02T03:04:05.000Z"}


def test_touch_helpers_stamp_what_the_endpoints_serve(emulator: Emulator) -> None:
    get = getter(emulator)
    at = datetime(2030, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    field, tag, segment, campaign = (emulator.data.cc_v3_custom_fields[1], emulator.data.cc_v3_tags[2],
                                     emulator.data.cc_v3_segments[5], emulator.data.cc_v3_campaigns[7])
    emulator.touch_v3_custom_fields([field["custom_field_id"]], at=at)
    emulator.touch_v3_tags([tag["tag_id"]], at=at)
    emulator.touch_v3_segments([segment["segment_id"]], at=at)
    emulator.touch_v3_campaigns([campaign["campaign_id"]], at=at)

    assert get("/v3/contact_custom_fields").json()["custom_fields"][1]["updated_at"] == "2030-05-06T07:08:09Z"
    assert get("/v3/contact_tags").json()["tags"][2]["updated_at"] == "2030-05-06T07:08:09Z"
    assert get("/v3/segments", limit=1).json()["segments"] == [{**segment, "edited_at": "2030-05-06T07:08:09Z"}]
    assert get("/v3/emails", limit=1).json()["campaigns"] == [{**campaign, "updated_at": "2030-05-06T07:08:09.000Z"}]
