"""The emulator's stricter readings of the docs (third round), each behind a switch that is off by default: stamps at
other offsets, exclusive bounds, records on window edges and in the far future, empty and uncompressed files, CSV
label faults, undocumented job states, repeating and foreign links, token endpoint faults, HTTP-date Retry-After,
secrets that need URL-encoding and the count of calls made to Constant Contact."""
from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import re
import time
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest
import requests

from emulator import Emulator
from emulator.common import duplicate_value, every, http_date, parse_iso
from emulator.faults import FOREVER

UTC = timezone.utc
V2_KEY = {"api_key": "emu-v2-api-key"}
V2_AUTH = {"Authorization": "Bearer emu-v2-access-token"}
COMETLY_AUTH = {"Authorization": "Bearer emu-cometly-key"}
BASIC = {"Authorization": "Basic " + base64.b64encode(b"emu-client-id:emu-client-secret").decode()}
COMETLY = "/public-api/v1"
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
SMALL = {"cc_v3_contacts": 120, "cc_v3_lists": 5, "cc_v3_segments": 10, "cc_v3_campaigns": 30,
         "cometly_contacts": 300, "cc_v2_list_members": {"1": 40, "2": 6}}


@pytest.fixture(scope="module")
def emu():
    """Read-only tests share this one; tests that change data use `small`."""
    with Emulator(seed=7) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def clean(emu):
    emu.faults.reset()
    emu.faults.job_polls_until_done = 0
    emu.reset_log()
    yield
    emu.faults.reset()


@pytest.fixture()
def small():
    with Emulator(seed=11, sizes=SMALL, cometly_timezone="UTC") as emulator:
        emulator.faults.job_polls_until_done = 0
        yield emulator


def v3_session(emu) -> requests.Session:
    session = requests.Session()
    token = session.post(f"{emu.url}/oauth2/default/v1/token", headers=BASIC,
                         data={"grant_type": "refresh_token", "refresh_token": emu.current_refresh_token}).json()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    return session


def stamps(obj) -> list[str]:
    """Every date-time string in a JSON value, in document order."""
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in stamps(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in stamps(v)]
    return [obj] if isinstance(obj, str) and STAMP.match(obj) else []


def fraction(stamp: str) -> str:
    return STAMP.match(stamp).group(1) or ""


def v3_export(emu, http, body) -> list[list[str]]:
    created = http.post(f"{emu.url}/v3/activities/contact_exports", json=body).json()
    activity = http.get(f"{emu.url}/v3/activities/{created['activity_id']}").json()
    file = http.get(emu.url + activity["_links"]["results"]["href"])
    return list(csv.reader(io.StringIO(file.content.decode("utf-8-sig"), newline="")))


def v2_export(emu, list_id, columns=("EMAIL", "FIRST NAME"), key=V2_KEY, auth=V2_AUTH) -> tuple[dict, requests.Response]:
    body = {"lists": [list_id], "file_type": "CSV", "export_date_added": True, "column_names": list(columns)}
    created = requests.post(f"{emu.url}/v2/activities/exportcontacts", params=key, headers=auth, json=body).json()
    activity = requests.get(f"{emu.url}/v2/activities/{created['id']}", params=key, headers=auth).json()
    return activity, requests.get(activity["file_name"], params=key, headers=auth)


def cometly_export(emu, window) -> tuple[dict, requests.Response]:
    created = requests.post(f"{emu.url}{COMETLY}/contacts/exports", headers=COMETLY_AUTH, json=window).json()
    status = requests.get(f"{emu.url}{COMETLY}/contacts/exports/{created['export_id']}", headers=COMETLY_AUTH).json()
    return status, requests.get(status["download_url"]) if "download_url" in status else None


WINDOW = {"start_date": "2024-03-01 00:00:00", "end_date": "2024-03-31 23:59:59"}


# ---------------------------------------------------------------- 1. stamps at an offset

def json_answers(emu) -> dict[str, object]:
    """One answer of every JSON endpoint with date-times, v3 (and its export activity), v2 (and its), Cometly."""
    v3 = v3_session(emu)
    out = {path: v3.get(f"{emu.url}/v3/{path}", params={"limit": 5}).json()
           for path in ("contacts", "contact_lists", "contact_custom_fields", "contact_tags", "segments", "emails",
                        "reports/summary_reports/email_campaign_summaries")}
    out["v3 contacts with sub-resources"] = v3.get(f"{emu.url}/v3/contacts", params={
        "limit": 5, "include": "phone_numbers,street_addresses,notes"}).json()
    created = v3.post(f"{emu.url}/v3/activities/contact_exports", json={"fields": ["email_address"]}).json()
    out["v3 activity"] = v3.get(f"{emu.url}/v3/activities/{created['activity_id']}").json()
    out["v2 lists"] = requests.get(f"{emu.url}/v2/lists", params=V2_KEY, headers=V2_AUTH).json()
    out["v2 list contacts"] = requests.get(f"{emu.url}/v2/lists/1/contacts", params={**V2_KEY, "limit": 5},
                                           headers=V2_AUTH).json()
    out["v2 activity"] = v2_export(emu, "4")[0]
    out["cometly contacts"] = requests.get(f"{emu.url}{COMETLY}/contacts", params={**WINDOW, "per_page": 5},
                                           headers=COMETLY_AUTH).json()
    status, file = cometly_export(emu, WINDOW)
    out["cometly status"] = {k: v for k, v in status.items() if k not in ("download_url", "expires_at")}
    out["cometly file"] = [json.loads(line) for line in gzip.decompress(file.content).splitlines()[:5]]
    return out


JOBS = ("v3 activity", "v2 activity", "cometly status")   # stamps of new jobs: another instant at each call


@pytest.mark.parametrize("offset", ["+05:30", "-04:00"])
def test_every_stamp_is_the_same_instant_at_the_offset_with_its_fraction_kept(emu, offset):
    plain = json_answers(emu)
    emu.faults.stamp_offset(offset)
    shifted = json_answers(emu)

    for name, answer in plain.items():
        before, after = stamps(answer), stamps(shifted[name])
        assert len(before) == len(after) > 0, name
        assert all(s.endswith("Z") for s in before), name
        assert all(s.endswith(offset) for s in after), name
        if name in JOBS:
            continue
        assert [parse_iso(s) for s in before] == [parse_iso(s) for s in after], name
        assert [fraction(s) for s in before] == [fraction(s) for s in after], name
    assert len(stamps(plain["contacts"])) >= 10 and len(stamps(plain["v3 contacts with sub-resources"])) > 10
    assert len(fraction(stamps(plain["emails"])[0])) == 4 and len(fraction(stamps(plain["cometly file"])[0])) == 7
    assert emu.faults.render_stamp(datetime(2024, 3, 1, 10, tzinfo=UTC), "ms") == (
        "2024-03-01T15:30:00.000+05:30" if offset == "+05:30" else "2024-03-01T06:00:00.000-04:00")


def test_stamp_offset_example_and_reset(emu):
    emu.faults.stamp_offset("+05:30")
    assert emu.faults.render_stamp(datetime(2024, 3, 1, 10, tzinfo=UTC)) == "2024-03-01T15:30:00+05:30"
    assert emu.faults.render_stamp(datetime(2024, 3, 1, 10, tzinfo=UTC), "us") == "2024-03-01T15:30:00.000000+05:30"
    emu.faults.reset()
    assert emu.faults.render_stamp(datetime(2024, 3, 1, 10, tzinfo=UTC)) == "2024-03-01T10:00:00Z"
    with pytest.raises(ValueError):
        emu.faults.stamp_offset("+5")


def test_filters_parse_any_offset(emu):
    v3 = v3_session(emu)
    contact = emu.data.v3_sorted()[1][600]
    at = parse_iso(contact["updated_at"])
    india = (at + timedelta(hours=5, minutes=30)).strftime("%Y-%m-%dT%H:%M:%S+05:30")
    ids = lambda params: [c["contact_id"] for c in v3.get(f"{emu.url}/v3/contacts", params={"limit": 500, **params}).json()["contacts"]]  # noqa: E731
    assert ids({"updated_after": india}) == ids({"updated_after": contact["updated_at"]})
    assert contact["contact_id"] in ids({"updated_after": india})
    lst = emu.data.cc_v2_lists[0]
    new_york = (parse_iso(lst["modified_date"]) - timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "-04:00"
    since = requests.get(f"{emu.url}/v2/lists", params={**V2_KEY, "modified_since": new_york}, headers=V2_AUTH).json()
    assert lst["id"] in [x["id"] for x in since]


# ---------------------------------------------------------------- 2. bound readings

def test_bounds_default_to_each_endpoints_reading_and_can_be_exclusive(emu):
    v3 = v3_session(emu)
    keys, ordered = emu.data.v3_sorted()
    low, high = ordered[100]["updated_at"], ordered[300]["updated_at"]

    def contacts(**params):
        body = v3.get(f"{emu.url}/v3/contacts", params={"limit": 500, "updated_after": low, "updated_before": high,
                                                         **params}).json()
        return {c["updated_at"] for c in body["contacts"]}, body["contacts_count"]

    served, count = contacts()
    assert low in served and high not in served and count == sum(low <= k[0] < high for k in keys)
    emu.faults.bounds(before="inclusive")
    served, count = contacts()
    assert low in served and high in served and count == sum(low <= k[0] <= high for k in keys)
    emu.faults.strictest_bounds()
    served, count = contacts()
    assert low not in served and high not in served and count == sum(low < k[0] < high for k in keys)
    assert (emu.faults.bound_after, emu.faults.bound_before) == ("exclusive", "exclusive")
    emu.faults.reset()
    assert emu.faults.readings("inclusive", "exclusive") == ("inclusive", "exclusive")


def test_exclusive_bounds_hold_on_every_range_filter(emu):
    v3 = v3_session(emu)
    campaign = emu.data.cc_v3_campaigns[5]
    edge = {"after_date": campaign["updated_at"], "before_date": campaign["updated_at"]}
    optouts = sorted(c["email_address"]["opt_out_date"] for c in emu.data.cc_v3_contacts
                     if c["email_address"].get("opt_out_date"))
    optout = {"optout_after": optouts[10], "optout_before": optouts[-10], "limit": 500}
    lst = emu.data.cc_v2_lists[1]
    member = emu.data.v2_list_contacts("1")[7]
    cometly = emu.data.cometly_contacts[500]
    local = parse_iso(cometly["created_at"]).astimezone(emu.data.cometly_tz).strftime("%Y-%m-%d %H:%M:%S")
    later = (parse_iso(cometly["created_at"]).astimezone(emu.data.cometly_tz) + timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")

    def served():
        opted = v3.get(f"{emu.url}/v3/contacts", params=optout).json()["contacts"]
        return {
            "emails": [c["campaign_id"] for c in v3.get(f"{emu.url}/v3/emails", params=edge).json()["campaigns"]],
            "optout edges": {c["email_address"]["opt_out_date"] for c in opted} & {optouts[10], optouts[-10]},
            "v2 lists": lst["id"] in [x["id"] for x in requests.get(
                f"{emu.url}/v2/lists", params={**V2_KEY, "modified_since": lst["modified_date"]}, headers=V2_AUTH).json()],
            "v2 members": member["id"] in [c["id"] for c in requests.get(
                f"{emu.url}/v2/lists/1/contacts", headers=V2_AUTH,
                params={**V2_KEY, "limit": 500, "modified_since": member["last_update_date"]}).json()["results"]],
            "cometly start": cometly["id"] in [c["id"] for c in requests.get(
                f"{emu.url}{COMETLY}/contacts", headers=COMETLY_AUTH,
                params={"start_date": local, "end_date": later, "per_page": 5000}).json()["data"]],
            "cometly end": cometly["id"] in [json.loads(line)["id"] for line in gzip.decompress(cometly_export(
                emu, {"start_date": "2020-01-01 00:00:00", "end_date": local})[1].content).splitlines()],
        }

    assert served() == {"emails": [campaign["campaign_id"]], "optout edges": {optouts[10]}, "v2 lists": True,
                        "v2 members": True, "cometly start": True, "cometly end": True}
    emu.faults.strictest_bounds()
    assert served() == {"emails": [], "optout edges": set(), "v2 lists": False, "v2 members": False,
                        "cometly start": False, "cometly end": False}
    emu.faults.bounds(after="inclusive", before="inclusive")
    assert served()["optout edges"] == {optouts[10], optouts[-10]}


def test_a_fractional_bound_means_the_same_under_every_reading(emu):
    """Stamps are whole seconds: after 12.5 and after-or-at 12.5 both start at 13."""
    v3 = v3_session(emu)
    contact = emu.data.v3_sorted()[1][200]
    half_before = (parse_iso(contact["updated_at"]) - timedelta(milliseconds=500)).isoformat().replace("+00:00", "Z")
    for setting in (("inclusive", "inclusive"), ("exclusive", "exclusive")):
        emu.faults.bounds(*setting)
        page = v3.get(f"{emu.url}/v3/contacts", params={"updated_after": half_before, "limit": 500}).json()
        assert contact["contact_id"] in [c["contact_id"] for c in page["contacts"]]


# ---------------------------------------------------------------- 3, 4. records on edges and in the far future

def test_records_stamped_on_window_edges_are_served_on_them(small):
    edges = every(datetime(2024, 1, 1, tzinfo=UTC), timedelta(days=30), datetime(2025, 1, 1, tzinfo=UTC))
    on_edges = small.stamp_v3_contacts_at(edges, count_each=2)
    assert list(on_edges) == edges and all(len(v) == 2 for v in on_edges.values())
    v3 = v3_session(small)
    window = {"updated_after": "2024-01-31T00:00:00Z", "updated_before": "2024-03-01T00:00:00Z", "limit": 500}
    served = {c["contact_id"] for c in v3.get(f"{small.url}/v3/contacts", params=window).json()["contacts"]}
    assert {c["contact_id"] for c in on_edges[edges[1]]} <= served
    assert not {c["contact_id"] for c in on_edges[edges[2]]} & served   # updated_before is exclusive by default
    assert all(c["created_at"] <= c["updated_at"] for c in small.data.cc_v3_contacts if c in on_edges[edges[0]])

    comets = small.stamp_cometly_contacts_at(edges[:3], count_each=3)
    page = requests.get(f"{small.url}{COMETLY}/contacts", headers=COMETLY_AUTH, params={
        "start_date": "2024-01-31 00:00:00", "end_date": "2024-03-01 00:00:00", "per_page": 5000}).json()["data"]
    assert {c["id"] for c in comets[edges[1]] + comets[edges[2]]} <= {c["id"] for c in page}
    assert [c["created_at"] for c in comets[edges[1]]] == ["2024-01-31T00:00:00.000000Z"] * 3

    members = small.stamp_v2_members_at("1", edges[:2], count_each=4)
    since = requests.get(f"{small.url}/v2/lists/1/contacts", headers=V2_AUTH,
                         params={**V2_KEY, "modified_since": "2024-01-31T00:00:00.000Z", "limit": 500}).json()
    assert {c["id"] for c in members[edges[1]]} <= {c["id"] for c in since["results"]}
    with pytest.raises(ValueError):
        small.stamp_v2_members_at("2", edges, count_each=1)   # the list has 6 members, not 13


def test_far_future_stamps_reach_lists_pages_and_export_files(small):
    future = datetime(2099, 1, 1, tzinfo=UTC)
    v3 = v3_session(small)
    campaign = small.touch_v3_campaigns([small.data.cc_v3_campaigns[0]["campaign_id"]], at=future)[0]
    assert v3.get(f"{small.url}/v3/emails").json()["campaigns"][0] == campaign
    assert campaign["updated_at"] == "2099-01-01T00:00:00.000Z"
    small.touch_v2_lists(["2"], at=future)
    lists = requests.get(f"{small.url}/v2/lists", params={**V2_KEY, "modified_since": "2098-01-01T00:00:00.000Z"},
                         headers=V2_AUTH).json()
    assert [(x["id"], x["modified_date"]) for x in lists] == [("2", "2099-01-01T00:00:00.000Z")]

    contact = small.set_v3_contact_updated_at(small.data.cc_v3_contacts[3]["contact_id"], future)
    rows = v3_export(small, v3, {"fields": ["email_address", "updated_at"]})
    assert [contact["email_address"]["address"], "2098-12-31 19:00:00 -0500"] in rows or \
           [contact["email_address"]["address"], "2098-12-31T19:00:00.000 -0500"] in rows

    member = small.data.cc_v2_members["2"][0]
    small.set_v2_date_added("2", [member], future)
    _, file = v2_export(small, "2")
    added = {row[0]: row[-1] for row in csv.reader(io.StringIO(file.text))}
    assert added[small.data.cc_v2_contacts[member]["email_addresses"][0]["email_address"]] == "2099-01-01T00:00:00.000Z"

    comet = small.set_cometly_created_at([small.data.cometly_contacts[0]["id"]], future)[0]
    _, blob = cometly_export(small, {"start_date": "2098-12-31 00:00:00", "end_date": "2099-01-02 00:00:00"})
    assert [json.loads(line) for line in gzip.decompress(blob.content).splitlines()] == [
        {k: v for k, v in comet.items() if k not in ("comet_tokens", "all_emails", "profile_fields")}]
    assert comet["created_at"] == "2099-01-01T00:00:00.000000Z" <= comet["updated_at"]


# ---------------------------------------------------------------- 5, 6. empty and uncompressed files

def test_empty_then_uncompressed_then_whole_export_files(emu):
    status, _ = cometly_export(emu, WINDOW)
    url = status["download_url"]
    emu.faults.empty_next_files(1)
    emu.faults.uncompressed_next_files(1)
    empty, plain, whole = (requests.get(url) for _ in range(3))

    assert (empty.status_code, empty.content, empty.headers["Content-Length"]) == (200, b"", "0")
    assert plain.status_code == 200 and plain.content == gzip.decompress(whole.content)
    assert plain.content.startswith(b'{"id":') and whole.content[:2] == b"\x1f\x8b"
    assert plain.headers["Content-Type"] == whole.headers["Content-Type"]


# ---------------------------------------------------------------- 7. CSV label faults

def test_renamed_and_duplicated_csv_labels(emu):
    v3 = v3_session(emu)
    emu.faults.rename_csv_column("cc_v3", "Email address - other", "Adresse e-mail - other")
    emu.faults.duplicate_csv_label("cc_v3", "Favorite Color")
    header, *data = v3_export(emu, v3, {})
    assert "Email address - other" not in header and header[2] == "Adresse e-mail - other"
    at = header.index("Favorite Color")
    assert header[at + 1] == "Favorite Color" and header.count("Favorite Color") == 2
    assert all(row[at + 1] != row[at] for row in data) and len(data) == len(emu.data.cc_v3_contacts)
    assert duplicate_value("blue", 1) == "blue #2"

    emu.faults.rename_csv_column("cc_v2", "Email", "E-mail")
    emu.faults.duplicate_csv_label("cc_v2", "First Name")
    _, file = v2_export(emu, "4")
    header, *data = list(csv.reader(io.StringIO(file.text)))
    assert header == ["E-mail", "First Name", "First Name", "Date Added"] and len(data) == 4
    emu.faults.reset()
    emu.faults.job_polls_until_done = 0
    assert list(csv.reader(io.StringIO(v2_export(emu, "4")[1].text)))[0] == ["Email", "First Name", "Date Added"]


# ---------------------------------------------------------------- 8. undocumented job states

@pytest.mark.parametrize("state", ["cancelled", "expired", "timed_out"])
def test_a_cometly_job_in_an_undocumented_state_stays_in_it(emu, state):
    emu.faults.fail_next_jobs("cometly", 1, state=state)
    created = requests.post(f"{emu.url}{COMETLY}/contacts/exports", headers=COMETLY_AUTH, json=WINDOW).json()
    polls = [requests.get(f"{emu.url}{COMETLY}/contacts/exports/{created['export_id']}", headers=COMETLY_AUTH).json()
             for _ in range(4)]
    assert [p["status"] for p in polls] == [state] * 4 and not any("download_url" in p for p in polls)
    emu.faults.fail_next_jobs("cc_v2", 1, state="CANCELLED")   # any state, on every API
    created = requests.post(f"{emu.url}/v2/activities/exportcontacts", params=V2_KEY, headers=V2_AUTH,
                            json={"lists": ["4"], "column_names": ["EMAIL"]}).json()
    activity = requests.get(f"{emu.url}/v2/activities/{created['id']}", params=V2_KEY, headers=V2_AUTH).json()
    assert activity["status"] == "CANCELLED" and "file_name" not in activity


# ---------------------------------------------------------------- 9. repeating pages

def test_a_repeated_next_link_leads_back_to_the_same_page(emu):
    v3 = v3_session(emu)
    emu.faults.repeat_next_link("/v3/contacts", times=2)
    first = v3.get(f"{emu.url}/v3/contacts", params={"limit": 500, "status": "all"}).json()
    again = v3.get(emu.url + first["_links"]["next"]["href"]).json()
    third = v3.get(emu.url + again["_links"]["next"]["href"]).json()
    assert first == again and third != first   # times=2: the third answer leads on
    emu.faults.repeat_next_link("/v3/segments", times=1)
    segments = v3.get(f"{emu.url}/v3/segments").json()
    assert segments["_links"]["next"]["href"] == "/v3/segments"   # the request's own path and query
    assert v3.get(emu.url + segments["_links"]["next"]["href"]).json()["segments"] == segments["segments"]

    emu.faults.repeat_next_link("/v2/lists/1/contacts?next=", times=FOREVER)
    page1 = requests.get(f"{emu.url}/v2/lists/1/contacts", params={**V2_KEY, "limit": 500}, headers=V2_AUTH).json()
    link = page1["meta"]["pagination"]["next_link"]
    page2 = requests.get(emu.url + link, params=V2_KEY, headers=V2_AUTH).json()
    assert "api_key" not in page2["meta"]["pagination"]["next_link"]
    assert requests.get(emu.url + page2["meta"]["pagination"]["next_link"], params=V2_KEY, headers=V2_AUTH).json() == page2
    assert page2["results"] != page1["results"]

    emu.faults.repeat_next_link(f"{COMETLY}/contacts", times=3)
    params = {**WINDOW, "per_page": 10}
    head = requests.get(f"{emu.url}{COMETLY}/contacts", params=params, headers=COMETLY_AUTH).json()
    by_cursor = requests.get(f"{emu.url}{COMETLY}/contacts", params={**params, "cursor": head["next_cursor"]},
                             headers=COMETLY_AUTH).json()
    by_url = requests.get(by_cursor["next_page_url"], headers=COMETLY_AUTH).json()
    assert head["data"] == by_cursor["data"] == by_url["data"] and by_url["next_cursor"] == head["next_cursor"]


# ---------------------------------------------------------------- 10. foreign hosts

def test_foreign_links_point_at_the_files_host_which_logs_what_it_gets(emu):
    v3 = v3_session(emu)
    emu.faults.foreign_links(emu.files_url, times=1, path_contains="/v3/contacts")
    href = v3.get(f"{emu.url}/v3/contacts", params={"limit": 500}).json()["_links"]["next"]["href"]
    assert href.startswith(emu.files_url + "/v3/contacts?cursor=")
    assert v3.get(href).status_code == 404
    assert emu.file_requests[-1].headers["Authorization"] == v3.headers["Authorization"]
    assert v3.get(f"{emu.url}/v3/contacts", params={"limit": 500}).json()["_links"]["next"]["href"].startswith("/v3/")

    emu.faults.foreign_links(emu.files_url, times=2)
    link = requests.get(f"{emu.url}/v2/lists/1/contacts", params={**V2_KEY, "limit": 500},
                        headers=V2_AUTH).json()["meta"]["pagination"]["next_link"]
    activity, file = v2_export(emu, "4")
    assert link.startswith(emu.files_url + "/v2/lists/1/contacts?next=")
    assert activity["file_name"] == f"{emu.files_url}/v2/exports/{activity['id']}.csv" and file.status_code == 404
    assert emu.file_requests[-1].query["api_key"] == "emu-v2-api-key"
    local = emu.url + link[len(emu.files_url):]
    assert requests.get(local, params=V2_KEY, headers=V2_AUTH).status_code == 200   # path and query are right


# ---------------------------------------------------------------- 11. token endpoint faults

def test_token_endpoint_html_persistent_500_and_hang_spend_no_refresh_token(emu):
    token_url = f"{emu.url}/oauth2/default/v1/token"
    form = {"grant_type": "refresh_token", "refresh_token": emu.current_refresh_token}
    emu.faults.token_fault("html")
    html = requests.post(token_url, headers=BASIC, data=form)
    assert (html.status_code, html.headers["Content-Type"]) == (200, "text/html") and html.text.startswith("<html>")

    emu.faults.token_fault("server_error", times=FOREVER)
    assert [requests.post(token_url, headers=BASIC, data=form).status_code for _ in range(3)] == [500] * 3
    emu.faults.reset()
    emu.faults.server_error("/oauth2/default/v1/token", times=FOREVER, status=500)
    assert requests.post(token_url, headers=BASIC, data=form).status_code == 500
    emu.faults.reset()

    emu.faults.token_fault("hang")
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(token_url, headers=BASIC, data=form, timeout=(5, 0.5))
    assert requests.post(token_url, headers=BASIC, data=form).status_code == 200   # the same token still works


# ---------------------------------------------------------------- 12. Retry-After as an HTTP date

def test_retry_after_may_be_an_http_date(emu):
    date = http_date(30)
    assert abs((parsedate_to_datetime(date) - datetime.now(UTC)).total_seconds() - 30) < 2 and date.endswith(" GMT")
    emu.faults.rate_limit("/v2/lists", times=1, retry_after="Wed, 21 Oct 2026 07:28:00 GMT")
    r = requests.get(f"{emu.url}/v2/lists", params=V2_KEY, headers=V2_AUTH)
    assert (r.status_code, r.headers["Retry-After"]) == (429, "Wed, 21 Oct 2026 07:28:00 GMT")

    emu.faults.enforce_rate_limits, emu.faults.retry_after_as_date = True, True
    emu.faults.rate_limit_period = 3.0
    window = {"start_date": "2024-01-01 00:00:00", "end_date": "2024-01-02 00:00:00"}
    answers = [requests.get(f"{emu.url}{COMETLY}/contacts", params=window, headers=COMETLY_AUTH) for _ in range(16)]
    assert answers[-1].status_code == 429
    assert 0 <= (parsedate_to_datetime(answers[-1].headers["Retry-After"]) - datetime.now(UTC)).total_seconds() <= 4
    time.sleep(3)   # let the list limit pass before the next test


# ---------------------------------------------------------------- 13. secrets in odd forms

def test_secrets_that_need_url_encoding_are_compared_exactly():
    odd = "a+b/c=d&e%f"
    with Emulator(seed=3, sizes=SMALL, v2_api_key=odd, v2_access_token="tok en/+=", cometly_api_key=odd + " ",
                  v3_client_secret="s3cr=t&+") as emu:
        config = emu.config()
        assert (config["constant_contact_v2"]["api_key"], config["cometly"]["api_key"]) == (odd, odd + " ")
        auth = {"Authorization": "Bearer tok en/+="}
        assert requests.get(f"{emu.url}/v2/lists", params={"api_key": odd}, headers=auth).status_code == 200
        raw = f"{emu.url}/v2/lists?api_key={odd}"   # not encoded: '+' reads as a space, '&' ends the value
        assert requests.get(raw, headers=auth).status_code == 401
        assert requests.get(f"{emu.url}/v2/lists", params={"api_key": odd + " "}, headers=auth).status_code == 401
        assert requests.get(f"{emu.url}/v2/lists", params={"api_key": odd}, headers=V2_AUTH).status_code == 401
        window = {"start_date": "2024-01-01 00:00:00", "end_date": "2024-01-02 00:00:00"}
        assert requests.get(f"{emu.url}{COMETLY}/contacts", params=window,
                            headers={"Authorization": f"Bearer {odd} "}).status_code == 200
        assert requests.get(f"{emu.url}{COMETLY}/contacts", params=window,
                            headers={"Authorization": f"Bearer {odd}"}).status_code == 401
        basic = "Basic " + base64.b64encode(b"emu-client-id:s3cr=t&+").decode()
        assert requests.post(config["constant_contact"]["token_url"], headers={"Authorization": basic}, data={
            "grant_type": "refresh_token", "refresh_token": emu.current_refresh_token}).status_code == 200
    defaults = Emulator(sizes=SMALL)
    assert (defaults.v2_api_key, defaults.v2_access_token, defaults.cometly_api_key) == (
        "emu-v2-api-key", "emu-v2-access-token", "emu-cometly-key")


# ---------------------------------------------------------------- 14. calls counted per API

def test_calls_are_counted_per_api_those_after_the_quota_included(emu):
    v3 = v3_session(emu)
    assert (emu.faults.cc_calls("cc_v3"), emu.faults.cc_calls("cc_v2")) == (0, 0)   # the token call is not counted
    emu.faults.cc_daily_quota("cc_v3", calls_left=2)
    answers = [v3.get(f"{emu.url}/v3/contact_lists").status_code for _ in range(4)]
    requests.get(f"{emu.url}/v2/lists", params=V2_KEY, headers=V2_AUTH)
    assert answers == [200, 200, 429, 429]
    assert (emu.faults.cc_calls("cc_v3"), emu.faults.cc_quota_refusals("cc_v3")) == (4, 2)
    assert (emu.faults.cc_calls("cc_v2"), emu.faults.cc_quota_refusals("cc_v2")) == (1, 0)
    emu.faults.reset()
    assert emu.faults.cc_calls("cc_v3") == 0
