"""cc_contacts: 30-day updated_at windows from start_date or the state, each read with limit=500, status=all and the
sub-resources, then its opt-outs; `_links.next.href` pages in both queries; state per closed window; waits on 429/5xx."""

import json
from datetime import datetime, timedelta
from typing import List, Optional

import pytest

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from tests.support.builders import V3_URL, StrictHttpMocker, emitted_states, final_state, run_read, stream_state, v3_access_token_config
from tests.support.fixtures import SleepRecorder

STREAM = "cc_contacts"
AUTH = {"Authorization": "Bearer test-v3-token"}
QUERY = {"limit": "500", "status": "all", "include": "custom_fields,list_memberships,phone_numbers,street_addresses,taggings,notes"}
# From start_date 2024-01-01 to the pinned sync start 2024-03-20T12:00:00Z; `before` is the next window's start.
WINDOWS = [("2024-01-01T00:00:00Z", "2024-01-31T00:00:00Z"), ("2024-01-31T00:00:00Z", "2024-03-01T00:00:00Z"),
           ("2024-03-01T00:00:00Z", "2024-03-20T12:00:01Z")]

pytestmark = pytest.mark.usefixtures("sync_started_at")


def _second_before(stamp: str) -> str:
    return (datetime.fromisoformat(stamp.replace("Z", "+00:00")) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _updated(after: str, before: str) -> HttpRequest:
    """The window [after, before) as sent: one second earlier, since the docs do not say whether `after` is inclusive."""
    params = {**QUERY, "updated_after": _second_before(after), "updated_before": before}
    return HttpRequest(f"{V3_URL}/contacts", query_params=params, headers=AUTH)


def _opted_out(after: str, before: str) -> HttpRequest:
    params = {**QUERY, "optout_after": _second_before(after), "optout_before": before, "updated_before": after}
    return HttpRequest(f"{V3_URL}/contacts", query_params=params, headers=AUTH)


def _next(cursor: str) -> HttpRequest:
    return HttpRequest(f"{V3_URL}/contacts", query_params={"cursor": cursor}, headers=AUTH)


def _page(*contacts: dict, next_cursor: Optional[str] = None) -> HttpResponse:
    body = {"contacts": list(contacts), "contacts_count": len(contacts)}
    if next_cursor:
        body["_links"] = {"next": {"href": f"/v3/contacts?cursor={next_cursor}"}}
    return HttpResponse(json.dumps(body), 200)


def _contact(contact_id: str, updated_at: str, opt_out_date: Optional[str] = None) -> dict:
    email = {"address": f"{contact_id}@example.org", "permission_to_send": "unsubscribed" if opt_out_date else "implicit"}
    if opt_out_date:
        email["opt_out_date"] = opt_out_date
    return {"contact_id": contact_id, "email_address": email, "updated_at": updated_at, "list_memberships": ["l1"]}


def _ids(output) -> List[str]:
    return sorted(r.record.data["contact_id"] for r in output.records)


def test_each_window_reads_its_updated_contacts_then_its_opt_outs_following_next_links_in_both() -> None:
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_updated(*WINDOWS[0]), _page(_contact("c1", "2024-01-05T00:00:00Z"), next_cursor="u1"))
        http_mocker.get(_next("u1"), _page(_contact("c2", "2024-01-30T23:59:59Z")))
        http_mocker.get(_opted_out(*WINDOWS[0]), _page(_contact("o1", "2023-06-01T00:00:00Z", "2024-01-10T00:00:00Z"), next_cursor="o1"))
        http_mocker.get(_next("o1"), _page(_contact("o2", "2022-01-01T00:00:00Z", "2024-01-20T00:00:00Z")))
        for window in WINDOWS[1:]:
            http_mocker.get(_updated(*window), _page())
            http_mocker.get(_opted_out(*window), _page())

        output = run_read(v3_access_token_config(), STREAM)

        first_window = [r.url for r in http_mocker.sent("GET", f"{V3_URL}/contacts") if "2023-12-31T23" in r.url or "cursor" in r.url]
    assert _ids(output) == ["c1", "c2", "o1", "o2"]
    # Within a window the opt-out query comes after the last page of the updated query.
    assert [("cursor=u1" in u, "updated_after" in u, "optout_after" in u, "cursor=o1" in u) for u in first_window] == [
        (False, True, False, False), (True, False, False, False), (False, False, True, False), (False, False, False, True)]


def test_incremental_starts_at_the_state_and_opted_out_contacts_never_move_it_back() -> None:
    state = stream_state(STREAM, {"updated_at": "2024-03-05T10:00:00Z"})
    window = ("2024-03-05T10:00:00Z", "2024-03-20T12:00:01Z")
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_updated(*window), _page(_contact("c7", "2024-03-05T10:00:00Z"), _contact("c8", "2024-03-12T12:30:00Z")))
        # The API left this contact's updated_at alone when it opted out.
        http_mocker.get(_opted_out(*window), _page(_contact("o9", "2023-11-02T08:00:00Z", "2024-03-06T09:00:00Z")))

        output = run_read(v3_access_token_config(), STREAM, SyncMode.incremental, state=state)

    assert _ids(output) == ["c7", "c8", "o9"]
    assert final_state(output) == {"updated_at": "2024-03-12T12:30:00Z"}


def test_state_moves_window_by_window() -> None:
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_updated(*WINDOWS[0]), _page(_contact("c1", "2024-01-05T00:00:00Z")))
        http_mocker.get(_updated(*WINDOWS[1]), _page(_contact("c2", "2024-02-10T00:00:00Z")))
        http_mocker.get(_updated(*WINDOWS[2]), _page())
        for window in WINDOWS:
            http_mocker.get(_opted_out(*window), _page())

        output = run_read(v3_access_token_config(), STREAM, SyncMode.incremental)

    # A state as each window closes, then the final one. Windows may close out of order; the state moves only over
    # windows closed from the start, to the newest record read in them.
    states = [s["updated_at"] for s in emitted_states(output)]
    assert len(states) == len(WINDOWS) + 1 and states == sorted(states)
    assert set(states) <= {"2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z", "2024-02-10T00:00:00Z"}
    assert states[-1] == "2024-02-10T00:00:00Z"


def test_an_empty_incremental_read_keeps_the_state() -> None:
    state = stream_state(STREAM, {"updated_at": "2024-03-19T10:00:00Z"})
    window = ("2024-03-19T10:00:00Z", "2024-03-20T12:00:01Z")
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_updated(*window), _page())
        http_mocker.get(_opted_out(*window), _page())

        output = run_read(v3_access_token_config(), STREAM, SyncMode.incremental, state=state)

    assert output.records == []
    assert final_state(output) == {"updated_at": "2024-03-19T10:00:00Z"}


def test_a_429_waits_its_retry_after_and_a_5xx_backs_off_longer_each_time(sleeps: SleepRecorder) -> None:
    state = stream_state(STREAM, {"updated_at": "2024-03-19T10:00:00Z"})
    window = ("2024-03-19T10:00:00Z", "2024-03-20T12:00:01Z")
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(
            _updated(*window),
            [HttpResponse("{}", 429, {"Retry-After": "7"}), HttpResponse("{}", 503), HttpResponse("{}", 503),
             _page(_contact("c1", "2024-03-19T11:00:00Z"))],
        )
        http_mocker.get(_opted_out(*window), _page())

        output = run_read(v3_access_token_config(), STREAM, SyncMode.incremental, state=state)

    assert _ids(output) == ["c1"]
    # Retry-After 7 plus the 1 s the CDK adds, then the CDK's own backoff: 1 s, then 2 s.
    assert [wait for wait in sleeps.waits if wait] == [8, 1, 2]
