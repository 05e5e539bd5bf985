"""Fast self-tests of the local API emulator (emulator/) the connector's integration tests run against."""
from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import time
import zlib
from datetime import datetime, timezone

import pytest
import requests

from emulator import Emulator

V2_KEY = {"api_key": "emu-v2-api-key"}
V2_AUTH = {"Authorization": "Bearer emu-v2-access-token"}
COMETLY_AUTH = {"Authorization": "Bearer emu-cometly-key"}
BASIC = {"Authorization": "Basic " + base64.b64encode(b"emu-client-id:emu-client-secret").decode()}


@pytest.fixture(scope="module")
def emu():
    with Emulator(seed=7, cometly_timezone="America/New_York") as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def clean(emu):
    emu.faults.reset()
    emu.reset_log()
    yield
    emu.faults.reset()


@pytest.fixture()
def http():
    with requests.Session() as session:
        yield session


def refresh(http, emu, refresh_token):
    return http.post(emu.config()["constant_contact"]["token_url"], headers=BASIC,
                     data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def test_every_api_rejects_bad_credentials(emu, http):
    r = http.get(f"{emu.url}/v2/lists", headers=V2_AUTH)  # api_key missing
    assert r.status_code == 401
    assert r.json() == [{"error_key": "http.status.unauthorized", "error_message": "Unauthorized"}]
    assert http.get(f"{emu.url}/v2/lists", params=V2_KEY).status_code == 401  # bearer missing

    r = http.get(f"{emu.url}/v3/contacts", headers={"Authorization": "Bearer not-a-token"})
    assert (r.status_code, r.json()["error_key"]) == (401, "unauthorized")
    r = http.post(emu.config()["constant_contact"]["token_url"],
                  data={"grant_type": "refresh_token", "refresh_token": emu.current_refresh_token})
    assert (r.status_code, r.json()) == (401, {"error": "invalid_client",
                                               "error_description": "Client authentication failed."})

    r = http.get(f"{emu.url}/public-api/v1/contacts", params={"start_date": "2024-01-01 00:00:00",
                                                            "end_date": "2024-01-02 00:00:00"})
    assert (r.status_code, r.json()) == (401, {"message": "Unauthenticated."})
    # Every request is logged, rejected ones included.
    assert [req.status for req in emu.requests] == [401] * 5


def test_v2_next_link_walk_returns_each_member_once(emu, http):
    url, params, seen, pages = f"{emu.url}/v2/lists/1/contacts", {**V2_KEY, "limit": 500}, [], 0
    while True:
        body = http.get(url, params=params, headers=V2_AUTH).json()
        seen += [c["id"] for c in body["results"]]
        pages += 1
        next_link = body["meta"]["pagination"].get("next_link")
        if not next_link:
            assert body["meta"]["pagination"] == {}
            break
        assert "api_key" not in next_link
        url, params = emu.url + next_link, V2_KEY  # the client adds api_key itself
    assert pages == 3
    assert len(seen) == len(set(seen)) == 1203
    assert seen == [c["id"] for c in emu.data.v2_list_contacts("1")]
    assert http.get(f"{emu.url}/v2/lists/1/contacts", params={**V2_KEY, "limit": 501},
                    headers=V2_AUTH).status_code == 400
    r = http.get(f"{emu.url}/v2/lists/99/contacts", params=V2_KEY, headers=V2_AUTH)
    assert r.status_code == 404 and "Contact list 99 not found" in r.text


def test_v2_modified_since_sees_touched_members(emu, http):
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    touched = emu.touch_v2_members("2", emu.data.cc_v2_members["2"][:3], at=at)
    added = emu.add_v2_member("2", email="new.member@example.com", at=at)
    r = http.get(f"{emu.url}/v2/lists/2/contacts", headers=V2_AUTH,
                 params={**V2_KEY, "modified_since": "2030-01-02T03:04:05.000Z"})
    assert sorted(c["id"] for c in r.json()["results"]) == sorted([c["id"] for c in touched] + [added["id"]], key=int)
    assert all(c["last_update_date"] == "2030-01-02T03:04:05.000Z" for c in r.json()["results"])


def test_v2_export_job_serves_csv(emu, http):
    body = {"lists": ["4"], "file_type": "CSV", "sort_by": "EMAIL_ADDRESS", "export_date_added": True,
            "export_added_by": True, "column_names": ["LAST NAME", "EMAIL", "FIRST NAME"]}
    r = http.post(f"{emu.url}/v2/activities/exportcontacts", params=V2_KEY, headers=V2_AUTH, json=body)
    assert r.status_code == 201 and r.json()["contact_count"] == 4
    statuses = [http.get(f"{emu.url}/v2/activities/{r.json()['id']}", params=V2_KEY, headers=V2_AUTH).json()
                for _ in range(3)]
    assert [s["status"] for s in statuses] == ["QUEUED", "RUNNING", "COMPLETE"]
    rows = list(csv.reader(io.StringIO(
        http.get(statuses[-1]["file_name"], params=V2_KEY, headers=V2_AUTH).content.decode("utf-8"))))
    assert rows[0] == ["Email", "First Name", "Last Name", "Date Added", "Added By"]
    assert sorted(row[0] for row in rows[1:]) == sorted(
        c["email_addresses"][0]["email_address"] for c in emu.data.v2_list_contacts("4"))
    bad = {**body, "column_names": ["FIRST NAME"]}
    assert http.post(f"{emu.url}/v2/activities/exportcontacts", params=V2_KEY, headers=V2_AUTH,
                     json=bad).status_code == 400


def test_v3_refresh_tokens_rotate_and_contacts_page(emu, http):
    first = emu.current_refresh_token
    r = refresh(http, emu, first)
    assert r.status_code == 200
    token = r.json()
    assert token["refresh_token"] != first and token["refresh_token"] == emu.config()["constant_contact"][
        "credentials"]["refresh_token"]
    reused = refresh(http, emu, first)
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")

    auth = {"Authorization": f"Bearer {token['access_token']}"}
    url, params, ids = f"{emu.url}/v3/contacts", {"limit": 500, "status": "all", "include": "list_memberships"}, []
    while url:
        body = http.get(url, params=params, headers=auth).json()
        ids += [c["contact_id"] for c in body["contacts"]]
        assert all("list_memberships" in c and "custom_fields" not in c for c in body["contacts"])
        href = body.get("_links", {}).get("next", {}).get("href")
        url, params = (emu.url + href, None) if href else (None, None)
    assert len(ids) == len(set(ids)) == 1234


def test_cometly_export_flow_and_presigned_download(emu, http):
    window = {"start_date": "2024-03-01 00:00:00", "end_date": "2024-03-31 23:59:59"}
    r = http.post(f"{emu.url}/public-api/v1/contacts/exports", headers=COMETLY_AUTH,
                  json={**window, "include_comet_tokens": 1, "include_all_emails": 0})
    assert r.status_code == 202 and r.json()["status"] == "queued"
    polls = [http.get(f"{emu.url}/public-api/v1/contacts/exports/{r.json()['export_id']}",
                      headers=COMETLY_AUTH).json() for _ in range(3)]
    assert [p["status"] for p in polls] == ["queued", "processing", "completed"]
    assert "download_url" not in polls[1] and polls[2]["download_url"].startswith(emu.files_url)

    raw = requests.get(polls[2]["download_url"])  # a bare GET: no auth header, like S3 wants
    assert raw.status_code == 200
    lines = gzip.decompress(raw.content).decode("utf-8").splitlines()
    expected = emu.data.cometly_local_window(window["start_date"], window["end_date"])
    assert [json.loads(line)["id"] for line in lines] == [c["id"] for c in expected]
    assert '"comet_tokens"' in lines[0] and '"all_emails"' not in lines[0]
    assert all("Authorization" not in req.headers for req in emu.file_requests)

    # A status poll of a completed job hands out a fresh URL; a forced expiry answers 403.
    again = http.get(f"{emu.url}/public-api/v1/contacts/exports/{r.json()['export_id']}", headers=COMETLY_AUTH)
    assert again.json()["download_url"] != polls[2]["download_url"]
    emu.faults.expire_download_urls(1)
    expired = requests.get(again.json()["download_url"])
    assert expired.status_code == 403 and b"Request has expired" in expired.content
    emu.faults.truncate_next_files(1)
    with pytest.raises((EOFError, zlib.error, OSError)):
        gzip.decompress(requests.get(again.json()["download_url"]).content)


def test_file_host_rejects_an_authorization_header(emu, http):
    r = http.post(f"{emu.url}/public-api/v1/contacts/exports", headers=COMETLY_AUTH,
                  json={"start_date": "2024-01-01 00:00:00", "end_date": "2024-01-02 00:00:00"})
    emu.faults.job_polls_until_done = 0
    status = http.get(f"{emu.url}/public-api/v1/contacts/exports/{r.json()['export_id']}", headers=COMETLY_AUTH)
    resp = requests.get(status.json()["download_url"], headers=COMETLY_AUTH)
    assert resp.status_code == 400 and b"<Code>InvalidArgument</Code>" in resp.content
    assert emu.file_requests[-1].headers["authorization"] == "Bearer emu-cometly-key"


def test_counted_faults(emu, http):
    emu.faults.rate_limit("/v2/lists", times=1, retry_after=2)
    first = http.get(f"{emu.url}/v2/lists", params=V2_KEY, headers=V2_AUTH)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "2")
    assert http.get(f"{emu.url}/v2/lists", params=V2_KEY, headers=V2_AUTH).status_code == 200
    emu.faults.server_error("/public-api/v1/contacts", times=1)
    window = {"start_date": "2024-01-01 00:00:00", "end_date": "2024-01-02 00:00:00"}
    assert http.get(f"{emu.url}/public-api/v1/contacts", params=window, headers=COMETLY_AUTH).status_code == 503
    late = http.get(f"{emu.url}/public-api/v1/contacts", headers=COMETLY_AUTH,
                    params={"start_date": "2024-01-02 00:00:00", "end_date": "2024-01-02 00:00:00"})
    assert (late.status_code, late.json()["message"]) == (422, "The end date must be a date after start date.")


def test_cometly_limits_per_endpoint_answer_429_with_retry_after_on_the_configured_clock(emu, http):
    emu.faults.enforce_rate_limits = True
    emu.faults.rate_limit_period = 5.0
    window = {"start_date": "2024-01-01 00:00:00", "end_date": "2024-01-02 00:00:00"}
    lists = [http.get(f"{emu.url}/public-api/v1/contacts", params=window, headers=COMETLY_AUTH) for _ in range(16)]
    assert [r.status_code for r in lists] == [200] * 15 + [429]
    assert 1 <= int(lists[-1].headers["Retry-After"]) <= 5 and lists[-1].json() == {"message": "Too Many Attempts."}
    creations = [http.post(f"{emu.url}/public-api/v1/contacts/exports", json=window, headers=COMETLY_AUTH) for _ in range(6)]
    assert [r.status_code for r in creations] == [202] * 5 + [429]
    export_id = creations[0].json()["export_id"]
    polls = [http.get(f"{emu.url}/public-api/v1/contacts/exports/{export_id}", headers=COMETLY_AUTH) for _ in range(31)]
    assert [r.status_code for r in polls] == [200] * 30 + [429]
    # Each limit is a sliding window of rate_limit_period seconds: once it has passed, calls are answered again.
    time.sleep(int(lists[-1].headers["Retry-After"]))
    assert http.get(f"{emu.url}/public-api/v1/contacts", params=window, headers=COMETLY_AUTH).status_code == 200


def test_jobs_can_take_a_given_time_instead_of_a_number_of_polls(emu, http):
    emu.faults.job_seconds = 1.5
    r = http.post(f"{emu.url}/public-api/v1/contacts/exports", headers=COMETLY_AUTH,
                  json={"start_date": "2024-01-01 00:00:00", "end_date": "2024-01-02 00:00:00"})
    poll = f"{emu.url}/public-api/v1/contacts/exports/{r.json()['export_id']}"
    early = [http.get(poll, headers=COMETLY_AUTH).json()["status"] for _ in range(3)]
    time.sleep(1.5)
    assert early == ["queued", "processing", "processing"]
    assert http.get(poll, headers=COMETLY_AUTH).json()["status"] == "completed"


def test_reused_export_files_are_built_once_per_identical_request(http):
    with Emulator(seed=7, reuse_export_files=True) as emulator:
        emulator.faults.job_polls_until_done = 0
        window = {"start_date": "2024-03-01 00:00:00", "end_date": "2024-03-31 23:59:59"}
        files = []
        for body in (window, window, {**window, "include_comet_tokens": 1}):
            r = http.post(f"{emulator.url}/public-api/v1/contacts/exports", headers=COMETLY_AUTH, json=body)
            status = http.get(f"{emulator.url}/public-api/v1/contacts/exports/{r.json()['export_id']}", headers=COMETLY_AUTH).json()
            files.append(requests.get(status["download_url"]).content)
        assert files[0] == files[1] != files[2]
        jobs = emulator.jobs.all("cometly")
        assert jobs[0].cache is jobs[1].cache is not jobs[2].cache
        assert [job.record_count for job in jobs] == [len(emulator.data.cometly_local_window(window["start_date"], window["end_date"]))] * 3


@pytest.mark.parametrize("kind", ["html", "empty", "cut", "bad_utf8"])
def test_a_spoiled_answer_is_a_200_whose_body_is_not_json_once(emu, http, kind):
    emu.faults.spoil_answers("/v2/lists", times=1, kind=kind)
    spoiled = http.get(f"{emu.url}/v2/lists", params=V2_KEY, headers=V2_AUTH)
    good = http.get(f"{emu.url}/v2/lists", params=V2_KEY, headers=V2_AUTH)

    assert (spoiled.status_code, good.status_code) == (200, 200)
    assert json.loads(good.content.decode("utf-8")) == emu.data.cc_v2_lists
    with pytest.raises(ValueError):  # UnicodeDecodeError or JSONDecodeError
        json.loads(spoiled.content.decode("utf-8"))
    if kind == "bad_utf8":  # one byte in a string: a lenient decoder would accept it
        assert json.loads(spoiled.content.decode("utf-8", "replace"))
        assert len(spoiled.content) == len(good.content)
    if kind == "html":
        assert spoiled.headers["Content-Type"] == "text/html" and spoiled.content.startswith(b"<html>")


def test_a_hanging_answer_is_never_sent_and_a_stalled_or_reset_one_stops_half_way(emu, http):
    emu.faults.spoil_answers("/v2/lists", times=1, kind="hang")
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.get(f"{emu.url}/v2/lists", params=V2_KEY, headers=V2_AUTH, timeout=(5, 0.5))
    emu.faults.spoil_answers("/v2/lists", times=1, kind="stall")
    with pytest.raises(requests.exceptions.ConnectionError, match="Read timed out"):
        http.get(f"{emu.url}/v2/lists", params=V2_KEY, headers=V2_AUTH, timeout=(5, 0.5))
    emu.faults.spoil_answers("/v2/lists", times=1, kind="reset")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        http.get(f"{emu.url}/v2/lists", params=V2_KEY, headers=V2_AUTH, timeout=(5, 5))

    assert http.get(f"{emu.url}/v2/lists", params=V2_KEY, headers=V2_AUTH, timeout=(5, 5)).status_code == 200
    assert [r.status for r in emu.requests] == [None, 200, 200, 200]


def test_constant_contact_429s_say_throttled_or_quota_exceeded_without_retry_after(emu, http):
    emu.faults.throttle_cc("cc_v2", times=1)
    emu.faults.cc_daily_quota("cc_v2", calls_left=1)
    throttled = http.get(f"{emu.url}/v2/lists", params=V2_KEY, headers=V2_AUTH)
    last_call = http.get(f"{emu.url}/v2/lists", params=V2_KEY, headers=V2_AUTH)
    spent = http.get(f"{emu.url}/v2/lists", params=V2_KEY, headers=V2_AUTH)

    assert (throttled.status_code, throttled.json()[0]["error_key"]) == (429, "throttled")
    assert last_call.status_code == 200
    assert (spent.status_code, spent.json()[0]["error_key"]) == (429, "quota_exceeded")
    assert "Retry-After" not in throttled.headers and "Retry-After" not in spent.headers

    emu.faults.cc_daily_quota("cc_v3", calls_left=0)
    token = refresh(http, emu, emu.current_refresh_token).json()["access_token"]  # the token endpoint is not counted
    v3 = http.get(f"{emu.url}/v3/contact_lists", headers={"Authorization": f"Bearer {token}"})
    assert (v3.status_code, v3.json()["error_key"]) == (429, "quota_exceeded")


def test_a_stuck_export_job_stays_processing(emu, http):
    emu.faults.stick_next_jobs("cometly", 1)
    window = {"start_date": "2024-03-01 00:00:00", "end_date": "2024-03-31 23:59:59"}
    created = http.post(f"{emu.url}/public-api/v1/contacts/exports", headers=COMETLY_AUTH, json=window).json()
    polls = [http.get(f"{emu.url}/public-api/v1/contacts/exports/{created['export_id']}", headers=COMETLY_AUTH).json()
             for _ in range(5)]

    assert [p["status"] for p in polls] == ["processing"] * 5


def test_spoiled_answers_match_path_and_query_and_can_let_good_answers_through_first(emu, http):
    emu.faults.spoil_answers("/v2/lists/1/contacts?next=", times=1, kind="empty", after=1)
    pages = []
    url, params = f"{emu.url}/v2/lists/1/contacts", {**V2_KEY, "limit": 500}
    first = http.get(url, params=params, headers=V2_AUTH)
    next_link = emu.url + first.json()["meta"]["pagination"]["next_link"]
    for _ in range(3):  # page 2 is let through, then spoiled once, then served again
        pages.append(http.get(next_link, params=V2_KEY, headers=V2_AUTH).content)

    assert first.content.startswith(b'{"meta"')  # no `next` in the first page's query: not matched
    assert pages[0] == pages[2] != b"" and pages[1] == b""
