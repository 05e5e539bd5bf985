"""Cometly events (list, one-day exports) and companies as the emulator serves them: validation, paging, the
switches for what the docs leave open, DST days, rate limits and the export job faults."""
from __future__ import annotations

import gzip
import json
import time
import zlib
from datetime import datetime, timedelta, timezone

import pytest
import requests

from emulator import Emulator
from emulator.cometly_events_data import BASE_FIELDS, STANDARD_EVENTS, TOUCHPOINT_FIELDS

AUTH = {"Authorization": "Bearer emu-cometly-key"}
ALL = [("fields[]", f) for f in BASE_FIELDS]
TOUCH = [("fields[]", f) for f in TOUCHPOINT_FIELDS]
ATTRIBUTION = {"model": "last_touch", "window_days": 30, "sources": ["facebook_ads", "google_ads"]}
ATTR_QUERY = [("sources[]", "facebook_ads"), ("sources[]", "google_ads"), ("attribution_model", "last_touch"),
              ("attribution_window", "30")]
UTC = timezone.utc


@pytest.fixture(scope="module")
def emu():
    with Emulator(seed=7, cometly_timezone="America/New_York") as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def clean(emu):
    emu.faults.reset()
    emu.faults.job_polls_until_done = 0
    emu.cometly_events.reset_rate_limits()
    emu.reset_log()
    yield
    emu.faults.reset()


@pytest.fixture()
def http():
    with requests.Session() as session:
        session.headers.update(AUTH)
        yield session


def api(emu, path):
    return f"{emu.url}/public-api/v1{path}"


def window(start, end):
    return [("start_date", start), ("end_date", end)]


def walk(http, emu, params, path="/events"):
    """Every page of a list by next_cursor (filters resent): (records, pages)."""
    records, pages, cursor = [], [], None
    while True:
        r = http.get(api(emu, path), params=params + ([("cursor", cursor)] if cursor else []))
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body)
        records += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            assert body["next_page_url"] is None
            return records, pages


def export(http, emu, body):
    """Create an export, poll it to completion, download: (status body, decompressed lines)."""
    created = http.post(api(emu, "/events/exports"), json=body)
    assert created.status_code == 202, created.text
    status = http.get(api(emu, f"/events/exports/{created.json()['export_id']}")).json()
    assert status["status"] == "completed", status
    raw = requests.get(status["download_url"])
    assert raw.status_code == 200
    return status, [json.loads(line) for line in gzip.decompress(raw.content).decode().splitlines()]


def local_day(emu, day):
    return f"{day} 00:00:00", f"{day} 23:59:59"


# ---------------------------------------------------------------- construction and data


def test_events_are_built_on_first_use_and_deterministic():
    started = time.perf_counter()
    fresh = Emulator(seed=7)
    assert not fresh.cometly_events.data._built   # Emulator() pays nothing for events
    assert time.perf_counter() - started < 2
    a = fresh.cometly_events_export_truth("2025-09-10")
    b = Emulator(seed=7).cometly_events_export_truth("2025-09-10")
    assert a == b and len(a) > 4000
    assert Emulator(seed=8).cometly_events_export_truth("2025-09-10") != a


def test_the_data_has_edges_dst_days_twins_both_id_types_and_every_standard_name(emu):
    days = emu.cometly_events.data.days
    assert (days["dst_23h"], days["dst_25h"]) == ("2025-03-09", "2024-11-03")
    every = emu.cometly_events_truth("2024-01-01 00:00:00", "2025-10-01 00:00:00", start_inclusive=True,
                                     end_inclusive=True)
    stamps = [e["event_time_utc"] for e in every]
    assert stamps == sorted(stamps) and len(stamps) > len(set(stamps))          # same-second twins
    assert {"2024-11-03T05:30:00Z", "2024-11-03T06:30:00Z"} <= set(stamps)      # 01:30 local, both passes
    dense = days["dense"]
    first, last = emu.cometly_events_export_truth(dense)[0], emu.cometly_events_export_truth(dense)[-1]
    assert (first["event_time_utc"], last["event_time_utc"]) == (f"{dense}T04:00:00Z", "2025-09-11T03:59:59Z")
    assert {type(e["id"]) for e in every} == {int, str} and {type(e["profile_id"]) for e in every} == {int, str}
    assert {type(e["company_id"]) for e in every} == {int, str, type(None)}
    assert all(str(e["id"]).isdigit() for e in every) and len({str(e["id"]) for e in every}) == len(every)
    assert set(STANDARD_EVENTS) <= {e["event_name"] for e in every}
    assert any(e["event_name"].startswith("custom_event_") and e["configured_name"] != e["event_name"] for e in every)
    assert {type(e["amount"]) for e in every} == {int, float}
    for day in days["empty"]:
        assert emu.cometly_events_export_truth(day) == []
    assert all(len(emu.cometly_events_export_truth(day)) == 1 for day in days["sparse"])


def test_a_benchmark_space_of_200k_events_builds_in_seconds():
    started = time.perf_counter()
    big = Emulator(seed=7, sizes={"cometly_events": 200_000})
    events, _ = big.cometly_events.data.snapshot()
    assert len(events) >= 199_000 and time.perf_counter() - started < 10


# ---------------------------------------------------------------- GET /events validation


@pytest.mark.parametrize("params, field", [
    ([("end_date", "2025-09-01 00:00:00")], "start_date"),
    ([("start_date", "2025-09-01 00:00:00")], "end_date"),
    (window("2025-09-01", "2025-09-02 00:00:00"), "start_date"),
    (window("2025-09-01T00:00:00", "2025-09-02 00:00:00"), "start_date"),
    (window("2025-09-02 00:00:00", "2025-09-02 00:00:00"), "end_date"),
    (window("2025-09-02 00:00:00", "2025-09-01 00:00:00"), "end_date"),
])
def test_events_window_is_required_formatted_and_ordered(emu, http, params, field):
    r = http.get(api(emu, "/events"), params=params)
    assert r.status_code == 422 and field in r.json()["errors"] and r.json()["message"]


W = window("2025-09-01 00:00:00", "2025-09-02 00:00:00")


@pytest.mark.parametrize("extra, field", [
    ([("per_page", "0")], "per_page"), ([("per_page", "4001")], "per_page"), ([("per_page", "ten")], "per_page"),
    ([("cursor", "not-a-cursor")], "cursor"),
    ([("event_names[]", n) for n in STANDARD_EVENTS[:11]], "event_names"),
    ([("event_names[]", "purchase"), ("event_names[]", "purchase")], "event_names.1"),
    ([("event_names[]", "custom_event_51")], "event_names.0"),
    ([("event_names", "purchase")], "event_names"),                  # a plain name is a string to PHP
    ([("event_names", "purchase,sign_up")], "event_names"),
    ([("sources[]", "facebook_ads")], "attribution_model"),
    ([("sources[]", "facebook_ads"), ("attribution_model", "last_touch")], "attribution_window"),
    ([("sources[]", "myspace_ads"), ("attribution_model", "last_touch"), ("attribution_window", "7")], "sources.0"),
    (ATTR_QUERY[:3] + [("attribution_window", "3")], "attribution_window"),
    (ATTR_QUERY[:2] + [("attribution_model", "time_decay"), ("attribution_window", "7")], "attribution_model"),
    ([("fields[]", "ad_id")], "fields"),                             # touchpoint fields need sources
    ([("fields[]", "email")], "fields.0"),
    ([("query_mode", "account")], "query_mode"),
])
def test_events_parameters_are_validated(emu, http, extra, field):
    r = http.get(api(emu, "/events"), params=W + extra)
    assert r.status_code == 422, r.text
    assert field in r.json()["errors"], r.json()


def test_array_parameters_take_brackets_and_indexes_and_plain_names_only_when_lenient(emu, http):
    for params in ([("event_names[]", "purchase"), ("event_names[]", "sign_up")],
                   [("event_names[0]", "purchase"), ("event_names[1]", "sign_up")]):
        r = http.get(api(emu, "/events"), params=W + ALL + params + [("per_page", "4000")])
        assert r.status_code == 200 and {e["event_name"] for e in r.json()["data"]} == {"purchase", "sign_up"}
    emu.faults.cometly_array_params = "lenient"
    r = http.get(api(emu, "/events"), params=W + ALL + [("event_names", "purchase"), ("event_names", "sign_up"),
                                                       ("per_page", "4000")])
    assert r.status_code == 200 and {e["event_name"] for e in r.json()["data"]} == {"purchase", "sign_up"}
    assert http.get(api(emu, "/events"), params=W + [("event_names", "purchase,sign_up")]).status_code == 422


def test_events_without_fields_are_id_and_time_only_unless_switched(emu, http):
    r = http.get(api(emu, "/events"), params=W)
    assert r.status_code == 200 and r.json()["per_page"] == 200
    assert all(set(e) == {"id", "event_time_utc"} for e in r.json()["data"])
    emu.faults.cometly_events_default_fields = "all"
    assert all(tuple(e) == BASE_FIELDS for e in http.get(api(emu, "/events"), params=W).json()["data"])


# ---------------------------------------------------------------- paging, order, bounds


def test_a_dense_day_pages_by_cursor_newest_first_and_matches_the_ground_truth(emu, http):
    day = emu.cometly_events.data.days["dense"]
    params = window(f"{day} 00:00:00", f"{day} 23:59:59") + ALL + [("per_page", "4000")]
    records, pages = walk(http, emu, params)
    assert len(pages) == 2 and [len(p["data"]) for p in pages][0] == 4000
    truth = emu.cometly_events_truth(f"{day} 00:00:00", f"{day} 23:59:59")
    assert records == truth[::-1]                                      # newest first, ties by id descending
    assert pages[0]["prev_cursor"] is None and pages[0]["prev_page_url"] is None
    assert pages[0]["path"] == api(emu, "/events") and pages[1]["prev_cursor"]
    # next_page_url carries the filters (arrays in bracket form) and gives the same page as the cursor.
    follow = http.get(pages[0]["next_page_url"]).json()
    assert follow["data"] == pages[1]["data"] and "fields%5B%5D=" in pages[0]["next_page_url"]
    back = http.get(api(emu, "/events"), params=params + [("cursor", pages[1]["prev_cursor"])]).json()
    assert back["data"] == pages[0]["data"] and back["prev_cursor"] is None


def test_small_pages_over_same_second_twins_and_the_oldest_first_switch(emu, http):
    start, end = "2024-11-02 00:00:00", "2024-11-04 00:00:00"
    truth = emu.cometly_events_truth(start, end, fields=BASE_FIELDS)
    newest, pages = walk(http, emu, window(start, end) + ALL + [("per_page", "3")])
    assert newest == truth[::-1] and len(pages) == -(-len(truth) // 3)
    emu.faults.cometly_events_order = "oldest"
    oldest, _ = walk(http, emu, window(start, end) + ALL + [("per_page", "4")])
    assert oldest == truth


@pytest.mark.parametrize("start_inclusive, end_inclusive", [(False, False), (True, False), (False, True), (True, True)])
def test_list_bounds_follow_the_switches_and_default_to_both_exclusive(emu, http, start_inclusive, end_inclusive):
    day = emu.cometly_events.data.days["dense"]
    start, end = f"{day} 00:00:00", f"{day} 23:59:59"
    emu.faults.cometly_events_start_inclusive = start_inclusive
    emu.faults.cometly_events_end_inclusive = end_inclusive
    got, _ = walk(http, emu, window(start, end) + ALL + [("per_page", "4000")])
    stamps = {e["event_time_utc"] for e in got}
    assert (f"{day}T04:00:00Z" in stamps) == start_inclusive
    assert ("2025-09-11T03:59:59Z" in stamps) == end_inclusive
    assert got == emu.cometly_events_truth(start, end)[::-1]
    assert sorted(map(str, (e["id"] for e in got))) == sorted(
        str(e["id"]) for e in emu.cometly_events_truth(start, end, start_inclusive=start_inclusive,
                                                       end_inclusive=end_inclusive))


def test_the_repeated_dst_hour_needs_windows_by_instant(emu, http):
    """01:30 local on 2024-11-03 happens twice; a window edge given as local wall time reads its first pass."""
    got, _ = walk(http, emu, window("2024-11-03 00:59:59", "2024-11-03 01:59:59") + ALL)
    stamps = {e["event_time_utc"] for e in got}
    assert {"2024-11-03T05:00:00Z", "2024-11-03T05:30:00Z"} <= stamps            # the first pass (EDT)
    assert all("2024-11-03T05:00:00Z" <= s < "2024-11-03T05:59:59Z" for s in stamps)
    # A window that looks two seconds long holds the whole second pass (06:00Z-06:59:59Z, EST)...
    got, _ = walk(http, emu, window("2024-11-03 01:59:59", "2024-11-03 02:00:01") + ALL)
    assert {"2024-11-03T06:00:00Z", "2024-11-03T06:30:00Z", "2024-11-03T07:00:00Z"} <= {e["event_time_utc"] for e in got}
    # ...so local windows that tile by wall time (..01:59:59, 02:00:00..) miss it, even with inclusive bounds.
    emu.faults.cometly_events_start_inclusive = emu.faults.cometly_events_end_inclusive = True
    tiled = (walk(http, emu, window("2024-11-03 00:00:00", "2024-11-03 01:59:59") + ALL)[0]
             + walk(http, emu, window("2024-11-03 02:00:00", "2024-11-03 03:00:00") + ALL)[0])
    assert "2024-11-03T06:30:00Z" not in {e["event_time_utc"] for e in tiled}


def test_ids_come_as_both_types_or_one_by_switch(emu, http):
    params = W + ALL + [("per_page", "4000")]
    mixed = http.get(api(emu, "/events"), params=params).json()["data"]
    assert {type(e["id"]) for e in mixed} == {int, str} and {type(e["space_id"]) for e in mixed} == {int, str}
    for style, kind in (("int", int), ("str", str)):
        emu.faults.cometly_event_ids = style
        data = http.get(api(emu, "/events"), params=params).json()["data"]
        assert {type(e["id"]) for e in data} == {type(e["profile_id"]) for e in data} == {kind}
        assert [str(e["id"]) for e in data] == [str(e["id"]) for e in mixed]


def test_attribution_fields_come_only_with_sources_and_depend_on_model_and_window(emu, http):
    plain = http.get(api(emu, "/events"), params=W + ALL + [("attribution_model", "first_touch"),
                                                             ("attribution_window", "7")]).json()["data"]
    assert plain and all(not set(TOUCHPOINT_FIELDS) & set(e) for e in plain)
    r = http.get(api(emu, "/events"), params=W + ALL + TOUCH + ATTR_QUERY)
    assert r.status_code == 200
    data = r.json()["data"]
    assert all(tuple(e) == BASE_FIELDS + TOUCHPOINT_FIELDS for e in data)
    assert any(e["ad_id"] is None for e in data) and any(isinstance(e["ad_id"], str) for e in data)
    assert data == emu.cometly_events_truth(*[v for _, v in W], attribution=ATTRIBUTION)[::-1][:200]
    ltv_first = http.get(api(emu, "/events"), params=W + ALL + TOUCH + ATTR_QUERY[:2] + [
        ("attribution_model", "first_touch"), ("attribution_window", "0")]).json()["data"]
    assert [e["ad_id"] for e in ltv_first] != [e["ad_id"] for e in data]


def test_company_query_mode_serves_events_with_a_company(emu, http):
    data = http.get(api(emu, "/events"), params=W + ALL + [("query_mode", "company"), ("per_page", "4000")]).json()["data"]
    assert data and all(e["company_id"] is not None for e in data)


def test_added_events_appear_in_a_window_ending_now(emu, http):
    now = datetime.now(UTC).replace(microsecond=0)
    added = emu.add_cometly_events(3, at=now - timedelta(seconds=30), event_name="purchase")
    tz_now = now.astimezone(emu.cometly_events.data.tz)
    start = (tz_now - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
    got, _ = walk(http, emu, window(start, tz_now.strftime("%Y-%m-%d %H:%M:%S")) + ALL)
    assert {str(e["id"]) for e in got} >= {str(e["id"]) for e in added}
    assert all(e["event_name"] == "purchase" and e["amount"] is not None for e in added)


# ---------------------------------------------------------------- exports


def test_export_lifecycle_and_file_match_the_day(emu, http):
    emu.faults.job_polls_until_done = 2
    day = emu.cometly_events.data.days["busy"]
    created = http.post(api(emu, "/events/exports"), json={"date": day, "fields": list(BASE_FIELDS)})
    assert created.status_code == 202
    body = created.json()
    assert isinstance(body["export_id"], int) and body["status"] == "queued" and body["message"]
    polls = [http.get(api(emu, f"/events/exports/{body['export_id']}")).json() for _ in range(3)]
    assert [p["status"] for p in polls] == ["queued", "processing", "completed"]
    assert all(p["message"] for p in polls[:2]) and "download_url" not in polls[1]
    done = polls[2]
    assert {"completed_at", "expires_at", "download_url", "created_at"} <= set(done)
    assert done["created_at"].endswith("Z") and done["download_url"].startswith(emu.files_url)
    lines = gzip.decompress(requests.get(done["download_url"]).content).decode().splitlines()
    assert [json.loads(line) for line in lines] == emu.cometly_events_export_truth(day)[::-1]
    assert http.get(api(emu, "/events/exports/999999")).status_code == 404


@pytest.mark.parametrize("day, hours, first, last", [
    ("2024-11-03", 25, "2024-11-03T04:00:00Z", "2024-11-04T04:59:59Z"),
    ("2025-03-09", 23, "2025-03-09T05:00:00Z", "2025-03-10T03:59:59Z"),
])
def test_dst_day_exports_span_23_and_25_hours(emu, http, day, hours, first, last):
    _, lines = export(http, emu, {"date": day, "fields": list(BASE_FIELDS)})
    stamps = sorted(e["event_time_utc"] for e in lines)
    assert (stamps[0], stamps[-1]) == (first, last)
    span = datetime.fromisoformat(last[:-1]) - datetime.fromisoformat(first[:-1])
    assert span == timedelta(hours=hours, seconds=-1)
    assert sorted(map(str, (e["id"] for e in lines))) == sorted(
        str(e["id"]) for e in emu.cometly_events_export_truth(day))


def test_export_with_attribution_and_names_and_the_minimal_default(emu, http):
    day = emu.cometly_events.data.days["busy"]
    _, lines = export(http, emu, {"date": day, "event_names": ["purchase"], "sources": ATTRIBUTION["sources"],
                                  "attribution_model": "last_touch", "attribution_window": 30,
                                  "fields": list(BASE_FIELDS + TOUCHPOINT_FIELDS)})
    assert lines == emu.cometly_events_export_truth(day, ["purchase"], ATTRIBUTION)[::-1] and lines
    _, minimal = export(http, emu, {"date": day})
    assert minimal and all(set(e) == {"id", "event_time_utc"} for e in minimal)


def test_an_empty_day_exports_a_valid_gzip_of_no_lines(emu, http):
    day = emu.cometly_events.data.days["empty"][0]
    status, lines = export(http, emu, {"date": day})
    raw = requests.get(status["download_url"]).content
    assert lines == [] and len(raw) > 0 and gzip.decompress(raw) == b""


@pytest.mark.parametrize("body, field", [
    ({}, "date"), ({"date": ""}, "date"), ({"date": "2025-09-31"}, "date"), ({"date": "2025-09-01 00:00:00"}, "date"),
    ({"date": "09/01/2025"}, "date"),
    ({"start_date": "2025-09-01 00:00:00", "end_date": "2025-09-01 23:59:59"}, "date"),
    ({"date": "2025-09-01", "start_date": "2025-09-01 00:00:00", "end_date": "2025-09-02 23:59:59"}, "date"),
    ({"date": "2025-09-01", "event_names": "purchase"}, "event_names"),
    ({"date": "2025-09-01", "sources": ["facebook_ads"]}, "attribution_model"),
    ({"date": "2025-09-01", "fields": ["ad_id"]}, "fields"),
])
def test_export_creation_is_validated(emu, http, body, field):
    r = http.post(api(emu, "/events/exports"), json=body)
    assert r.status_code == 422 and field in r.json()["errors"], r.text


def test_export_job_faults_target_event_jobs(emu, http):
    emu.faults.fail_next_jobs("cometly_events")
    failed = http.post(api(emu, "/events/exports"), json={"date": "2025-09-01"}).json()
    status = http.get(api(emu, f"/events/exports/{failed['export_id']}")).json()
    assert status["status"] == "failed" and status["message"] and "download_url" not in status
    emu.faults.fail_next_jobs("cometly_events", state="cancelled")          # a status the docs do not list
    odd = http.post(api(emu, "/events/exports"), json={"date": "2025-09-01"}).json()
    assert http.get(api(emu, f"/events/exports/{odd['export_id']}")).json()["status"] == "cancelled"
    emu.faults.stick_next_jobs("cometly_events")
    stuck = http.post(api(emu, "/events/exports"), json={"date": "2025-09-01"}).json()
    assert [http.get(api(emu, f"/events/exports/{stuck['export_id']}")).json()["status"]
            for _ in range(5)] == ["processing"] * 5
    # A contacts job is not affected by an events fault.
    emu.faults.fail_next_jobs("cometly_events")
    contacts = http.post(api(emu, "/contacts/exports"), json={"start_date": "2024-03-01 00:00:00",
                                                               "end_date": "2024-03-02 00:00:00"}).json()
    assert http.get(api(emu, f"/contacts/exports/{contacts['export_id']}")).json()["status"] == "completed"


def test_export_file_faults_expired_url_truncated_and_malformed_line(emu, http):
    day = emu.cometly_events.data.days["busy"]
    status, lines = export(http, emu, {"date": day})
    export_id = status["export_id"]
    emu.faults.expire_download_urls(1)
    expired = requests.get(status["download_url"])
    assert expired.status_code == 403 and b"Request has expired" in expired.content
    fresh = http.get(api(emu, f"/events/exports/{export_id}")).json()
    assert fresh["download_url"] != status["download_url"] and requests.get(fresh["download_url"]).status_code == 200
    emu.faults.truncate_next_files(1)
    with pytest.raises((EOFError, zlib.error, OSError)):
        gzip.decompress(requests.get(fresh["download_url"]).content)
    emu.faults.malformed_ndjson_line(3)
    broken = gzip.decompress(requests.get(fresh["download_url"]).content).decode().splitlines()
    assert len(broken) == len(lines)
    with pytest.raises(ValueError):
        json.loads(broken[2])
    emu.faults.download_url_ttl = 0
    short = http.get(api(emu, f"/events/exports/{export_id}")).json()
    assert requests.get(short["download_url"]).status_code == 403


# ---------------------------------------------------------------- companies


def test_companies_window_is_inclusive_newest_first_and_pages(emu, http):
    start, end = "2024-06-01 00:00:00", "2024-06-01 23:59:59"
    got, _ = walk(http, emu, window(start, end), "/companies")
    truth = emu.cometly_companies_truth(start, end)
    assert got == truth[::-1] and len(truth) >= 3
    assert {"2024-06-01T04:00:00Z", "2024-06-02T03:59:59Z"} <= {c["created_at"] for c in got}
    assert all(set(c) == {"id", "domain", "created_at"} and isinstance(c["id"], int) for c in got)
    everything, pages = walk(http, emu, [("per_page", "150")], "/companies")
    assert everything == emu.cometly_companies_truth()[::-1] and len(pages) == 4
    only_start, _ = walk(http, emu, [("start_date", "2025-09-01 00:00:00"), ("per_page", "5000")], "/companies")
    assert only_start == emu.cometly_companies_truth("2025-09-01 00:00:00")[::-1]
    added = emu.add_cometly_companies(1)
    assert http.get(api(emu, "/companies")).json()["data"][0] == added[0]


@pytest.mark.parametrize("params, field", [
    ([("per_page", "5001")], "per_page"), ([("per_page", "0")], "per_page"), ([("start_date", "2024-06-01")], "start_date"),
    (window("2024-06-02 00:00:00", "2024-06-01 00:00:00"), "end_date"), ([("cursor", "x")], "cursor"),
])
def test_companies_parameters_are_validated(emu, http, params, field):
    r = http.get(api(emu, "/companies"), params=params)
    assert r.status_code == 422 and field in r.json()["errors"]


# ---------------------------------------------------------------- rate limits


@pytest.mark.parametrize("path, method, limit", [
    ("/events", "GET", 7), ("/events/exports", "POST", 5), ("/events/exports/{id}", "GET", 30), ("/companies", "GET", 15),
])
def test_rate_limits_per_endpoint_answer_429_with_retry_after(emu, http, path, method, limit):
    export_id = http.post(api(emu, "/events/exports"), json={"date": "2025-09-01"}).json()["export_id"]
    emu.cometly_events.reset_rate_limits()
    emu.reset_log()
    emu.faults.enforce_rate_limits = True
    emu.faults.rate_limit_period = 2.0

    def call():
        if method == "POST":
            return http.post(api(emu, path), json={"date": "2025-09-01"})
        return http.get(api(emu, path.replace("{id}", str(export_id))), params=W if path == "/events" else None)
    answers = [call() for _ in range(limit + 1)]
    assert [r.status_code for r in answers[:-1]] == [answers[0].status_code] * limit and answers[0].status_code < 300
    assert answers[-1].status_code == 429 and 1 <= int(answers[-1].headers["Retry-After"]) <= 2
    assert answers[0].headers["X-RateLimit-Limit"] == str(limit)
    assert answers[0].headers["X-RateLimit-Remaining"] == str(limit - 1)
    served = path.replace("{id}", str(export_id))
    assert emu.requests.count(f"/public-api/v1{served}", method, status=429, exact=True) == 1
    assert emu.requests.count(f"/public-api/v1{served}", method, within=60, exact=True) == limit + 1
    # The other endpoints keep their own budget.
    other = "/companies" if path != "/companies" else "/events"
    assert http.get(api(emu, other), params=W).status_code == 200
    time.sleep(int(answers[-1].headers["Retry-After"]))
    assert call().status_code != 429
