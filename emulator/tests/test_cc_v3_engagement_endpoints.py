"""The emulator's v3 campaign activity and email reporting endpoints, as the v3 reporting docs describe them, and the
consistency of their ground truth."""
from __future__ import annotations

import re
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
import requests

from emulator import Emulator
from emulator.cc_v3_engagement import dotted
from emulator.engagement_data import EngagementData, STAT_KEYS, TRACKING_TYPES

REPORTS = "/v3/reports/email_reports"
STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z\Z")


@pytest.fixture(scope="module")
def emu():
    """One emulator for the tests that only read."""
    with Emulator() as emulator:
        yield emulator


def getter(emulator: Emulator):
    auth = {"Authorization": f"Bearer {emulator.issue_access_token()}"}
    return lambda path, **params: requests.get(emulator.url + path, params=params, headers=auth)


@pytest.fixture()
def get(emu: Emulator):
    return getter(emu)


def activities(emu: Emulator, role="primary_email", status="DONE", big=0) -> list[str]:
    eng = emu.data.engagement
    return [aid for aid, a in eng.activities.items() if a["role"] == role and eng.status(aid) == status
            and (eng._plans[aid]["recipients"] or 0) >= big]


def walk(get, aid: str, kind: str, **params) -> tuple[list, list]:
    """Every record of one report, following `_links.next.href`, and the pages' sizes."""
    path, records, sizes = f"{REPORTS}/{aid}/tracking/{kind}", [], []
    while path:
        body = get(path, **params).json()
        records += body["tracking_activities"]
        sizes.append(len(body["tracking_activities"]))
        path, params = (body.get("_links") or {}).get("next", {}).get("href"), {}
    return records, sizes


def test_campaign_lists_its_activities_and_the_activity_serves_includes_only_when_asked(emu, get) -> None:
    eng = emu.data.engagement
    campaign = next(c for c in emu.data.cc_v3_campaigns if c["current_status"] == "Done")
    body = get(f"/v3/emails/{campaign['campaign_id']}").json()
    assert {k: v for k, v in body.items() if k != "campaign_activities"} == campaign
    assert [a["role"] for a in body["campaign_activities"]][:2] == ["primary_email", "permalink"]
    assert get("/v3/emails/00000000-0000-4000-8000-000000000000").status_code == 404

    primary = body["campaign_activities"][0]["campaign_activity_id"]
    plain = get(f"/v3/emails/activities/{primary}").json()
    assert plain["current_status"] == "DONE" and plain["campaign_id"] == campaign["campaign_id"]
    assert {"from_email", "from_name", "reply_to_email", "subject", "format_type", "contact_list_ids"} <= set(plain)
    assert not {"permalink_url", "html_content", "physical_address_in_footer", "document_properties"} & set(plain)
    with_link = get(f"/v3/emails/activities/{primary}", include="permalink_url").json()
    assert with_link == {**plain, "permalink_url": with_link["permalink_url"]}
    assert with_link["permalink_url"].startswith("https://conta.cc/")
    full = get(f"/v3/emails/activities/{primary}", include="physical_address_in_footer,permalink_url").json()
    assert full["physical_address_in_footer"]["organization_name"]
    assert get(f"/v3/emails/activities/{primary}", include="everything").status_code == 400
    assert get("/v3/emails/activities/00000000-0000-4000-8000-000000000000").status_code == 404
    assert eng.activity_view(primary, ["permalink_url"]) == with_link


def test_statuses_are_upper_case_and_removed_activities_cannot_be_fetched(emulator: Emulator) -> None:
    get, eng = getter(emulator), emulator.data.engagement
    statuses = {eng.status(aid) for aid in eng.activities}
    assert statuses == {"DONE", "DRAFT", "SCHEDULED", "ERROR", "REMOVED"}
    removed = activities(emulator, status="REMOVED")[0]
    for path in (f"/v3/emails/activities/{removed}", f"/v3/emails/activities/{removed}/send_history",
                 f"{REPORTS}/{removed}/tracking/sends", f"{REPORTS}/{removed}/links"):
        assert get(path).status_code == 404, path
    aid = activities(emulator)[0]
    emulator.remove_v3_campaigns([eng.activities[aid]["campaign_id"]])
    assert get(f"/v3/emails/activities/{aid}").status_code == 404
    assert aid not in {r["campaign_activity_id"] for r in emulator.engagement_truth("cc_email_campaign_activities")}


def test_send_history_is_a_bare_array_oldest_first_and_empty_for_drafts(emu, get) -> None:
    eng = emu.data.engagement
    histories = {aid: get(f"/v3/emails/activities/{aid}/send_history").json() for aid in activities(emu)[:40]}
    assert all(isinstance(h, list) and h for h in histories.values())
    for history in histories.values():
        assert [s["send_id"] for s in history] == list(range(1, len(history) + 1))
        assert [s["run_date"] for s in history] == sorted(s["run_date"] for s in history)
        assert all(STAMP.match(s["run_date"]) and s["send_status"] in ("COMPLETED", "ERRORED") for s in history)
    everything = [s for aid in activities(emu) for s in eng.send_history(aid)]
    assert {s["send_status"] for s in everything} == {"COMPLETED", "ERRORED"}
    assert max(s["send_id"] for s in everything) >= 2 and any(s["reason_code"] == 12 for s in everything)
    draft = activities(emu, status="DRAFT")[0]
    assert get(f"/v3/emails/activities/{draft}/send_history").json() == []
    permalink = activities(emu, role="permalink")[0]
    r = get(f"/v3/emails/activities/{permalink}/send_history")
    assert r.status_code == 400 and r.json()[0]["error_key"]


def test_reports_list_the_newest_first_in_pages_of_a_string_limit(emu, get) -> None:
    aid = activities(emu, big=900)[0]
    records, sizes = walk(get, aid, "sends")
    assert sizes[0] == 500 and len(sizes) >= 2        # default "500"
    small, small_sizes = walk(get, aid, "sends", limit="37")
    assert small == records and set(small_sizes[:-1]) == {37}
    stamps = [r["created_time"] for r in records]
    assert stamps == sorted(stamps, reverse=True) and all(STAMP.match(s) for s in stamps)
    assert len({r["contact_id"] for r in records}) == len(records)
    for limit in ("0", "501", "ten", "-1", "5.0"):
        r = get(f"{REPORTS}/{aid}/tracking/opens", limit=limit)
        assert r.status_code == 400 and isinstance(r.json(), list) and r.json()[0]["error_key"], limit
    assert get(f"{REPORTS}/{aid}/tracking/opens", next="garbage").status_code == 400
    assert get(f"{REPORTS}/{aid}/tracking/likes").status_code == 404


def test_the_last_page_leaves_links_out_or_nulls_href_behind_the_switch(emulator: Emulator) -> None:
    get = getter(emulator)
    aid = activities(emulator)[0]
    last = get(f"{REPORTS}/{aid}/tracking/sends").json()
    assert "_links" not in last and last["tracking_activities"]
    emulator.faults.cc_last_page_links = "null"
    assert get(f"{REPORTS}/{aid}/tracking/sends").json()["_links"] == {"next": {"href": None}}
    n = len(last["tracking_activities"])
    assert "next" in get(f"{REPORTS}/{aid}/tracking/sends", limit=str(n - 1)).json()["_links"]
    assert get(f"{REPORTS}/{aid}/tracking/sends", limit=str(n)).json()["_links"]["next"]["href"] is None
    draft = activities(emulator, status="DRAFT")[0]
    assert get(f"{REPORTS}/{draft}/tracking/opens").json() == {"tracking_activities": []}


def test_same_second_events_straddle_page_boundaries_and_contacts_repeat(emu, get) -> None:
    eng = emu.data.engagement
    aid = max(activities(emu, big=900), key=lambda a: len(eng.rows(a, "opens")))
    opens = eng.tracking(aid, "opens")
    assert len(opens) > 500
    for boundary in range(50, len(opens) - 1, 50):
        assert opens[boundary - 1]["created_time"] == opens[boundary]["created_time"], boundary
    walked, _ = walk(get, aid, "opens", limit="50")
    assert walked == opens
    per_contact = Counter(r["contact_id"] for r in opens)
    assert max(per_contact.values()) >= 4 and min(per_contact.values()) == 1
    keys = [(r["contact_id"], r["created_time"]) for r in opens]
    assert len(set(keys)) == len(keys)          # the opens' primary key holds
    clicks = [r for a in activities(emu)[:60] for r in eng.tracking(a, "clicks")]
    assert max(Counter((r["campaign_activity_id"], r["contact_id"]) for r in clicks).values()) >= 3


def test_records_leave_optional_nulls_out_and_carry_their_types_fields(emu, get) -> None:
    every = {kind: [r for aid in activities(emu)[:120] for r in emu.data.engagement.tracking(aid, kind)]
             for kind in TRACKING_TYPES}
    common = {"contact_id", "campaign_activity_id", "tracking_activity_type", "email_address", "created_time"}
    for kind, records in every.items():
        assert records, kind
        assert {r["tracking_activity_type"] for r in records} == {TRACKING_TYPES[kind]}
        assert all(common <= set(r) and None not in r.values() for r in records)
    assert every["unique_opens"][0]["tracking_activity_type"] == "em_opens"
    opens = every["opens"]
    assert any("first_name" not in r for r in opens) and any("device_type" not in r for r in opens)
    assert any("last_name" not in r and "first_name" in r for r in opens)
    deleted = [r["deleted_at"] for records in every.values() for r in records if "deleted_at" in r]
    assert deleted and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in deleted)
    assert all(isinstance(r["url_id"], str) and r["link_url"].startswith("http") for r in every["clicks"])
    bounces = every["bounces"]
    assert {r["bounce_code"] for r in bounces} <= set("BDFSVXZ") and len({r["bounce_code"] for r in bounces}) > 3
    assert any(r.get("current_email_address") not in (None, r["email_address"]) for r in bounces)
    assert any("current_email_address" not in r for r in bounces)
    assert any("opt_out_reason" in r for r in every["optouts"]) and any("opt_out_reason" not in r for r in every["optouts"])


def test_clicks_filter_by_url_id_and_bounces_by_repeated_bounce_code(emu, get) -> None:
    eng = emu.data.engagement
    aid = max(activities(emu)[:150], key=lambda a: len(eng.rows(a, "clicks")))
    clicks = eng.tracking(aid, "clicks")
    url_id = Counter(r["url_id"] for r in clicks).most_common(1)[0][0]
    filtered, _ = walk(get, aid, "clicks", url_id=url_id, limit="3")
    assert filtered == [r for r in clicks if r["url_id"] == url_id]
    assert get(f"{REPORTS}/{aid}/tracking/clicks", url_id="abc").status_code == 400

    aid = max(activities(emu)[:150], key=lambda a: len({r[4][0] for r in eng.rows(a, "bounces")}))
    bounces = eng.tracking(aid, "bounces")
    codes = sorted({r["bounce_code"] for r in bounces})[:2]
    filtered, _ = walk(get, aid, "bounces", bounce_code=codes, limit="1")
    assert filtered == [r for r in bounces if r["bounce_code"] in codes] and filtered
    assert get(f"{REPORTS}/{aid}/tracking/bounces", bounce_code="Q").status_code == 400


def test_reports_of_a_permalink_are_400s_with_the_v3_error_array(emu, get) -> None:
    permalink = activities(emu, role="permalink")[0]
    for kind in TRACKING_TYPES:
        r = get(f"{REPORTS}/{permalink}/tracking/{kind}")
        assert r.status_code == 400 and set(r.json()[0]) == {"error_key", "error_message"}
    assert get(f"{REPORTS}/{permalink}/links").status_code == 400


def test_counts_add_up_across_reports_stats_send_history_and_summaries(emu) -> None:
    eng = emu.data.engagement
    summaries = {s["campaign_id"]: s for s in emu.data.cc_v3_campaign_summaries}
    checked = 0
    for cid, ids in list(eng.by_campaign.items())[:150]:
        reportable = [a for a in ids if eng.reportable(a) and eng._plans[a]["counts"]]
        for aid in reportable:
            rows = {kind: eng.tracking(aid, kind) for kind in TRACKING_TYPES}
            sent = sum(s["count"] for s in eng.send_history(aid))
            openers = {r["contact_id"] for r in rows["opens"]}
            bounced = {r["contact_id"] for r in rows["bounces"]}
            assert len(rows["sends"]) == sent
            assert [r["contact_id"] for r in rows["unique_opens"]] and len(rows["unique_opens"]) == len(openers)
            last = {}
            for r in rows["opens"]:
                last[r["contact_id"]] = max(last.get(r["contact_id"], ""), r["created_time"])
            assert {r["contact_id"]: r["created_time"] for r in rows["unique_opens"]} == last
            sends_at = {r["contact_id"]: r["created_time"] for r in rows["sends"]}
            assert {r["contact_id"]: r["created_time"] for r in rows["didnotopens"]} == {
                c: t for c, t in sends_at.items() if c not in openers | bounced}
            s = eng.stats(aid)["stats"]
            assert (s["em_sends"], s["em_opens"], s["em_opens_all"], s["em_bounces"], s["em_clicks_all"]) == (
                sent, len(openers), len(rows["opens"]), len(bounced), len(rows["clicks"]))
            assert s["em_clicks"] == len({r["contact_id"] for r in rows["clicks"]})
            assert s["em_not_opened"] == len(rows["didnotopens"]) == sent - len(openers) - len(bounced)
            assert s["em_opens_all"] == sum(s[f"em_opens_all_{d}"] for d in ("computer", "mobile", "tablet", "other", "none"))
            assert s["em_bounces"] == sum(v for k, v in s.items() if k.startswith("em_bounces_"))
            assert (s["em_forwards"], s["em_optouts"]) == (len(rows["forwards"]), len(rows["optouts"]))
            checked += 1
        if cid in summaries:
            counts = summaries[cid]["unique_counts"]
            stats = [eng.stats(a)["stats"] for a in reportable]
            assert counts["sends"] == sum(s["em_sends"] for s in stats)
            assert counts["opens"] == sum(s["em_opens"] for s in stats)
            assert counts["not_opened"] == sum(s["em_not_opened"] for s in stats)
            assert counts["clicks"] == sum(s["em_clicks"] for s in stats)
            assert summaries[cid]["last_sent_date"] == max(
                h["run_date"] for a in reportable for h in eng.send_history(a) if h["send_status"] == "COMPLETED")
    assert checked > 100
    resend = activities(emu, role="resend")[0]
    primary = eng.by_campaign[eng.activities[resend]["campaign_id"]][0]
    assert {r["contact_id"] for r in eng.tracking(resend, "sends")} == {
        r["contact_id"] for r in eng.tracking(primary, "didnotopens")}


def test_stats_take_one_to_ten_ids_and_list_the_rest_under_errors(emulator: Emulator) -> None:
    get, eng = getter(emulator), emulator.data.engagement
    done = activities(emulator)[:9]
    path = "/v3/reports/stats/email_campaign_activities/"
    permalink, draft = activities(emulator, role="permalink")[0], activities(emulator, status="DRAFT")[0]
    body = get(path + ",".join(done[:8] + [permalink, draft])).json()
    assert [r["campaign_activity_id"] for r in body["results"]] == done[:8]
    assert len(body["errors"]) == 2 and all(set(e) == {"error_key", "error_message"} for e in body["errors"])
    assert get(path + ",".join(done + [permalink, draft])).status_code == 400
    assert get(path + ",".join(done[:3] + ["not-a-uuid"])).status_code == 404
    assert get(path + "00000000-0000-4000-8000-000000000000").json() == {"errors": [body["errors"][0] | {
        "error_message": "Could not find any stats for campaign activity 00000000-0000-4000-8000-000000000000."}],
        "results": []}

    result = body["results"][0]
    assert set(result) == {"campaign_id", "campaign_activity_id", "stats", "last_refresh_time"}
    assert set(result["stats"]) == {dotted(k) for k in STAT_KEYS} and len(result["stats"]) == 27
    assert "em_opens.all.mobile" in result["stats"] and "em_clicks.all" in result["stats"]
    assert "em_bounces_blocked" in result["stats"] and "em_opens" in result["stats"]
    emulator.faults.cc_stats_keys = "underscored"
    plain = get(path + done[0]).json()["results"][0]
    assert set(plain["stats"]) == set(STAT_KEYS)
    assert {dotted(k): v for k, v in plain["stats"].items()} == result["stats"]
    assert plain == eng.stats(done[0])


def test_links_list_unclicked_links_only_with_no_clicks(emu, get) -> None:
    eng = emu.data.engagement
    aid = next(a for a in activities(emu) if any(not link["unique_clicks"] for link in eng.links(a, True))
               and any(link["unique_clicks"] for link in eng.links(a, True)))
    clicked = get(f"{REPORTS}/{aid}/links").json()
    everything = get(f"{REPORTS}/{aid}/links", no_clicks="true").json()
    assert clicked["campaign_activity_id"] == aid and "_links" not in clicked
    assert all(link["unique_clicks"] > 0 for link in clicked["link_click_counts"])
    assert len(everything["link_click_counts"]) > len(clicked["link_click_counts"])
    assert get(f"{REPORTS}/{aid}/links", no_clicks="false").json() == clicked
    assert get(f"{REPORTS}/{aid}/links", no_clicks="yes").status_code == 400
    clicks = eng.tracking(aid, "clicks")
    for link in everything["link_click_counts"]:
        assert link["unique_clicks"] == len({r["contact_id"] for r in clicks if r["url_id"] == link["url_id"]})
        assert set(link) <= {"link_url", "url_id", "unique_clicks", "list_action", "list_id", "link_tag"}
    draft = activities(emu, status="DRAFT")[0]
    assert get(f"{REPORTS}/{draft}/links").json() == {"campaign_activity_id": draft, "link_click_counts": []}


def test_add_engagement_changes_exactly_the_reports_it_should(emulator: Emulator) -> None:
    get, eng = getter(emulator), emulator.data.engagement
    aid = activities(emulator)[3]
    before = {kind: walk(get, aid, kind)[0] for kind in TRACKING_TYPES}
    stats_before = eng.stats(aid)["stats"]
    summary = next(s for s in emulator.data.cc_v3_campaign_summaries if s["campaign_id"] == eng.activities[aid]["campaign_id"])
    counts_before = dict(summary["unique_counts"])
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    added = emulator.add_engagement(aid, opens=3, clicks=2, at=at)

    after = {kind: walk(get, aid, kind)[0] for kind in TRACKING_TYPES}
    assert after["opens"][:3] == added["opens"] and after["opens"][3:] == before["opens"]
    assert after["clicks"][:2] == added["clicks"] and after["clicks"][2:] == before["clicks"]
    assert {r["created_time"] for r in added["opens"] + added["clicks"]} == {"2030-01-02T03:04:05.000Z"}
    new_openers = {r["contact_id"] for r in added["opens"]}
    assert not new_openers & {r["contact_id"] for r in before["unique_opens"]}
    assert after["didnotopens"] == [r for r in before["didnotopens"] if r["contact_id"] not in new_openers]
    assert len(after["unique_opens"]) == len(before["unique_opens"]) + 3
    for kind in ("sends", "bounces", "optouts", "forwards"):
        assert after[kind] == before[kind], kind
    stats = eng.stats(aid)["stats"]
    assert stats["em_opens"] == stats_before["em_opens"] + 3 and stats["em_opens_all"] == stats_before["em_opens_all"] + 3
    assert stats["em_clicks_all"] == stats_before["em_clicks_all"] + 2
    assert stats["em_not_opened"] == stats_before["em_not_opened"] - 3
    assert summary["unique_counts"]["opens"] == counts_before["opens"] + 3
    assert eng.stats(aid)["last_refresh_time"] == "2030-01-02T03:04:05.000Z"

    again = emulator.add_engagement(aid, opens=2, contact_ids=[r["contact_id"] for r in added["opens"][:1]], at=at)
    assert [r["created_time"] for r in again["opens"]] == ["2030-01-02T03:04:06.000Z", "2030-01-02T03:04:05.000Z"]
    with pytest.raises(ValueError):
        emulator.add_engagement(activities(emulator, status="DRAFT")[0], opens=1)


def test_engagement_truth_is_what_the_endpoints_serve(emu, get) -> None:
    activities_truth = emu.engagement_truth("cc_email_campaign_activities")
    by_id = {r["campaign_activity_id"]: r for r in activities_truth}
    aid = activities(emu)[5]
    campaign = next(c for c in emu.data.cc_v3_campaigns if c["campaign_id"] == by_id[aid]["campaign_id"])
    assert by_id[aid] == {**get(f"/v3/emails/activities/{aid}", include="permalink_url").json(),
                          "campaign_updated_at": campaign["updated_at"], "campaign_name": campaign["name"]}
    history = [r for r in emu.engagement_truth("cc_email_send_history") if r["campaign_activity_id"] == aid]
    assert history == [{"campaign_activity_id": aid, **s} for s in get(f"/v3/emails/activities/{aid}/send_history").json()]
    links = emu.engagement_truth("cc_email_links", activity_ids=[aid])
    served = get(f"{REPORTS}/{aid}/links", no_clicks="true").json()["link_click_counts"]
    assert links == [{"campaign_activity_id": aid, **link} for link in served]
    stats = emu.engagement_truth("cc_email_campaign_activity_stats")
    assert next(r for r in stats if r["campaign_activity_id"] == aid) == emu.data.engagement.stats(aid)
    assert {r["campaign_activity_id"] for r in stats} == {a for a in by_id if emu.data.engagement.has_stats(a)}
    filled = emu.engagement_truth("cc_email_bounces", fill_nulls=True, activity_ids=activities(emu)[:30])
    assert filled and [{k: v for k, v in r.items() if v is not None} for r in filled] == emu.engagement_truth(
        "cc_email_bounces", activity_ids=activities(emu)[:30])
    assert all({"first_name", "last_name", "deleted_at", "current_email_address"} <= set(r) for r in filled)
    with pytest.raises(ValueError):
        emu.engagement_truth("cc_email_likes")


def test_v3_calls_are_counted_per_utc_day_and_the_quota_covers_the_reports(emulator: Emulator) -> None:
    get = getter(emulator)
    aid = activities(emulator)[0]
    start = emulator.cc_v3_calls_today()
    get(f"{REPORTS}/{aid}/tracking/opens")
    get(f"/v3/reports/stats/email_campaign_activities/{aid}")
    get("/v3/contact_lists")
    requests.get(emulator.url + "/v3/contact_lists")            # 401: not counted
    assert emulator.cc_v3_calls_today() == start + 3

    emulator.faults.cc_daily_limit("cc_v3", per_day=start + 4)
    assert get(f"{REPORTS}/{aid}/links").status_code == 200
    spent = get(f"{REPORTS}/{aid}/tracking/sends")
    assert (spent.status_code, spent.json()["error_key"]) == (429, "quota_exceeded")
    assert emulator.cc_v3_calls_today() == start + 4
    tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
    emulator.faults.cc_clock = lambda: tomorrow.replace(hour=0, minute=0, second=0)
    assert emulator.cc_v3_calls_today() == 0
    assert get(f"{REPORTS}/{aid}/tracking/sends").status_code == 200
    emulator.faults.cc_daily_quota("cc_v3", calls_left=0)
    assert get(f"/v3/emails/activities/{aid}").status_code == 429


def test_engagement_is_fast_to_build_and_a_benchmark_account_draws_per_activity(emu) -> None:
    started = time.perf_counter()
    EngagementData(emu.data)
    assert time.perf_counter() - started < 0.15
    with Emulator(sizes={"cc_v3_campaigns": 6, "cc_v3_contacts": 3000, "cc_v3_recipients": 3000,
                         "cc_v3_all_sent": 1, "cometly_contacts": 10}) as bench:
        eng = bench.data.engagement
        assert {c["current_status"] for c in bench.data.cc_v3_campaigns} == {"Done"}
        primaries = [a for a in eng.activities if eng.activities[a]["role"] == "primary_email"]
        assert len(primaries) == 6 and all(len(eng.rows(a, "sends")) == 3000 for a in primaries)
        rows, sizes = walk(getter(bench), primaries[0], "sends")
        assert sizes == [500] * 6 and len(rows) == 3000


@pytest.mark.parametrize("stream", ["cc_email_campaign_activities", "cc_email_send_history", "cc_email_sends",
                                    "cc_email_opens", "cc_email_unique_opens", "cc_email_clicks", "cc_email_bounces",
                                    "cc_email_optouts", "cc_email_forwards", "cc_email_did_not_opens",
                                    "cc_email_campaign_activity_stats", "cc_email_links"])
def test_the_stream_schemas_hold_every_truth_record_and_name_every_field(emu, stream: str) -> None:
    import json
    from pathlib import Path

    import jsonschema

    schema = json.loads((Path(__file__).parents[2] / "source_contacts" / "schemas" / f"{stream}.json").read_text())
    some = [a for a in emu.data.engagement.activities if emu.data.engagement.visible(a)][:120]
    records = emu.engagement_truth(stream, fill_nulls=True, activity_ids=some)
    assert records
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    for record in records:
        validator.validate(record)
        assert set(record) <= set(schema["properties"]), set(record) - set(schema["properties"])
    keys = [tuple(r[k] for k in schema["required"]) for r in records]
    assert len(set(keys)) == len(keys)      # the primary key holds


def test_rows_drawn_again_after_eviction_are_the_same_mutations_included(emulator: Emulator) -> None:
    eng = emulator.data.engagement
    aid, other = activities(emulator)[:2]
    emulator.add_engagement(aid, opens=2, clicks=1, at=datetime(2030, 1, 1, tzinfo=timezone.utc))
    before = {kind: eng.tracking(aid, kind) for kind in TRACKING_TYPES}
    eng.lru_recipients = eng.lru_rows = 1
    eng.tracking(other, "opens")                    # evicts everything of `aid`
    assert {kind: eng.tracking(aid, kind) for kind in TRACKING_TYPES} == before


def test_tiny_accounts_build_and_serve(tmp_path) -> None:
    for contacts in (0, 10):
        with Emulator(sizes={"cc_v3_contacts": contacts, "cc_v3_campaigns": 30, "cometly_contacts": 10}) as tiny:
            eng = tiny.data.engagement
            sent = [a for a in eng.activities if eng.reportable(a) and eng.status(a) == "DONE"]
            assert all(len(eng.rows(a, "sends")) <= contacts for a in sent)
            assert all(eng.stats(a)["stats"]["em_sends"] == len(eng.rows(a, "sends")) for a in sent)


def test_no_event_comes_before_its_contacts_send(emu) -> None:
    eng = emu.data.engagement
    for aid in activities(emu)[:80] + activities(emu, role="resend")[:10]:
        sent = {r["contact_id"]: r["created_time"] for r in eng.tracking(aid, "sends")}
        for kind in ("opens", "clicks", "bounces", "optouts", "forwards", "unique_opens"):
            assert all(r["created_time"] >= sent[r["contact_id"]] for r in eng.tracking(aid, kind)), (aid, kind)
