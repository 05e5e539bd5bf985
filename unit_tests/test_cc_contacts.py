"""cc_contacts: limit=500, status=all, the sub-resources, updated_after from start_date or state,
`_links.next.href` pagination carrying the query in its cursor, waits on 429 and 5xx."""

import json

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from tests.support.builders import V3_URL, StrictHttpMocker, final_state, run_read, stream_state, v3_access_token_config
from tests.support.fixtures import SleepRecorder

STREAM = "cc_contacts"
AUTH = {"Authorization": "Bearer test-v3-token"}
INCLUDE = "custom_fields,list_memberships,phone_numbers,street_addresses,taggings,notes"


def _first_page_request(updated_after: str) -> HttpRequest:
    params = {"limit": "500", "status": "all", "include": INCLUDE, "updated_after": updated_after}
    return HttpRequest(f"{V3_URL}/contacts", query_params=params, headers=AUTH)


def _contact(contact_id: str, updated_at: str) -> dict:
    return {
        "contact_id": contact_id,
        "email_address": {"address": f"{contact_id}@example.org", "permission_to_send": "implicit"},
        "updated_at": updated_at,
        "list_memberships": ["l1"],
        "custom_fields": [{"custom_field_id": "cf1", "value": "blue"}],
    }


def test_full_refresh_starts_at_start_date_and_follows_the_next_link() -> None:
    first = {"contacts": [_contact("c1", "2024-02-01T00:00:00Z"), _contact("c2", "2024-02-01T00:00:00Z")],
             "contacts_count": 3, "_links": {"next": {"href": "/v3/contacts?cursor=p2"}}}
    second = {"contacts": [_contact("c3", "2024-03-01T00:00:00Z")], "contacts_count": 3}
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_first_page_request("2024-01-01T00:00:00Z"), HttpResponse(json.dumps(first), 200))
        http_mocker.get(HttpRequest(f"{V3_URL}/contacts", query_params={"cursor": "p2"}, headers=AUTH), HttpResponse(json.dumps(second), 200))

        output = run_read(v3_access_token_config(), STREAM)

    assert [r.record.data["contact_id"] for r in output.records] == ["c1", "c2", "c3"]
    assert output.records[0].record.data["list_memberships"] == ["l1"]


def test_incremental_sends_the_state_as_updated_after_and_saves_the_newest_updated_at() -> None:
    state = stream_state(STREAM, {"updated_at": "2025-05-05T10:00:00Z"})
    page = {"contacts": [_contact("c7", "2025-05-05T10:00:00Z"), _contact("c8", "2025-06-01T12:30:00Z")], "contacts_count": 2}
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_first_page_request("2025-05-05T10:00:00Z"), HttpResponse(json.dumps(page), 200))

        output = run_read(v3_access_token_config(), STREAM, SyncMode.incremental, state=state)

    assert [r.record.data["contact_id"] for r in output.records] == ["c7", "c8"]
    assert final_state(output) == {"updated_at": "2025-06-01T12:30:00Z"}


def test_an_empty_incremental_read_keeps_the_state() -> None:
    state = stream_state(STREAM, {"updated_at": "2025-05-05T10:00:00Z"})
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_first_page_request("2025-05-05T10:00:00Z"), HttpResponse(json.dumps({"contacts": [], "contacts_count": 0}), 200))

        output = run_read(v3_access_token_config(), STREAM, SyncMode.incremental, state=state)

    assert output.records == []
    assert final_state(output) == {"updated_at": "2025-05-05T10:00:00Z"}


def test_a_429_waits_its_retry_after_and_a_5xx_backs_off_longer_each_time(sleeps: SleepRecorder) -> None:
    page = {"contacts": [_contact("c1", "2024-02-01T00:00:00Z")], "contacts_count": 1}
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(
            _first_page_request("2024-01-01T00:00:00Z"),
            [
                HttpResponse("{}", 429, {"Retry-After": "7"}),
                HttpResponse("{}", 503),
                HttpResponse("{}", 503),
                HttpResponse(json.dumps(page), 200),
            ],
        )

        output = run_read(v3_access_token_config(), STREAM)

    assert [r.record.data["contact_id"] for r in output.records] == ["c1"]
    # Retry-After 7 plus the 1 s the CDK adds, then the CDK's own backoff: 1 s, then 2 s.
    assert [wait for wait in sleeps.waits if wait] == [8, 1, 2]
