"""cc_contact_lists: limit=1000, `_links.next.href` pagination, client-side incremental on updated_at."""

import json

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from tests.support.builders import V3_URL, StrictHttpMocker, final_state, run_read, stream_state, v3_access_token_config

STREAM = "cc_contact_lists"
AUTH = {"Authorization": "Bearer test-v3-token"}


def _list(list_id: str, updated_at: str) -> dict:
    return {"list_id": list_id, "name": f"List {list_id}", "favorite": False, "created_at": "2024-01-02T00:00:00Z", "updated_at": updated_at}


def _mock_two_pages(http_mocker: StrictHttpMocker) -> None:
    first = {
        "lists": [_list("l1", "2024-02-01T00:00:00Z"), _list("l2", "2025-03-01T10:00:00Z")],
        "lists_count": 3,
        "_links": {"next": {"href": "/v3/contact_lists?cursor=c2"}},
    }
    second = {"lists": [_list("l3", "2024-06-01T00:00:00Z")], "lists_count": 3}
    http_mocker.get(HttpRequest(f"{V3_URL}/contact_lists", query_params={"limit": "1000"}, headers=AUTH), HttpResponse(json.dumps(first), 200))
    # The next page is the href as given: only its cursor, no limit repeated.
    http_mocker.get(HttpRequest(f"{V3_URL}/contact_lists", query_params={"cursor": "c2"}, headers=AUTH), HttpResponse(json.dumps(second), 200))


def test_full_refresh_follows_the_next_link_to_the_last_page() -> None:
    with StrictHttpMocker() as http_mocker:
        _mock_two_pages(http_mocker)

        output = run_read(v3_access_token_config(), STREAM)

    assert [r.record.data["list_id"] for r in output.records] == ["l1", "l2", "l3"]


def test_incremental_keeps_lists_updated_at_or_after_the_state_and_saves_the_newest() -> None:
    state = stream_state(STREAM, {"updated_at": "2024-06-01T00:00:00Z"})
    with StrictHttpMocker() as http_mocker:
        _mock_two_pages(http_mocker)

        output = run_read(v3_access_token_config(), STREAM, SyncMode.incremental, state=state)

    # l1 is older than the state; l3 equals it and is read again (inclusive cursor).
    assert sorted(r.record.data["list_id"] for r in output.records) == ["l2", "l3"]
    assert final_state(output) == {"updated_at": "2025-03-01T10:00:00Z"}
