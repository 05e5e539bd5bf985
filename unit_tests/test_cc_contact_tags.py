"""cc_contact_tags: limit=500 with include_count=true (contacts_count), `_links.next.href` pagination,
client-side incremental on updated_at."""

import json

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from tests.support.builders import V3_URL, StrictHttpMocker, final_state, run_read, stream_state, v3_access_token_config

STREAM = "cc_contact_tags"
AUTH = {"Authorization": "Bearer test-v3-token"}
FIRST_PAGE = HttpRequest(f"{V3_URL}/contact_tags", query_params={"limit": "500", "include_count": "true"}, headers=AUTH)


def _tag(tag_id: str, contacts: int, updated_at: str) -> dict:
    return {"tag_id": tag_id, "name": f"Tag {tag_id}", "tag_source": "Shopify", "contacts_count": contacts,
            "created_at": "2023-11-12T11:41:30Z", "updated_at": updated_at}


def test_full_refresh_asks_for_counts_follows_the_next_link_and_keeps_tags_older_than_start_date() -> None:
    first = {"tags": [_tag("t-1", 45, "2023-01-05T00:00:00Z")], "_links": {"next": {"href": "/v3/contact_tags?cursor=tags-2"}}}
    second = {"tags": [_tag("t-2", 0, "2024-03-05T00:00:00Z")]}
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(FIRST_PAGE, HttpResponse(json.dumps(first), 200))
        http_mocker.get(HttpRequest(f"{V3_URL}/contact_tags", query_params={"cursor": "tags-2"}, headers=AUTH), HttpResponse(json.dumps(second), 200))

        output = run_read(v3_access_token_config(), STREAM)

    assert [r.record.data for r in output.records] == first["tags"] + second["tags"]


def test_incremental_drops_tags_older_than_the_state_and_an_empty_result_keeps_it() -> None:
    state = stream_state(STREAM, {"updated_at": "2025-01-01T00:00:00Z"})
    page = {"tags": [_tag("t-1", 45, "2024-01-05T00:00:00Z"), _tag("t-2", 3, "2024-12-31T23:59:59Z")]}
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(FIRST_PAGE, HttpResponse(json.dumps(page), 200))

        output = run_read(v3_access_token_config(), STREAM, SyncMode.incremental, state=state)

    assert output.records == []
    assert final_state(output) == {"updated_at": "2025-01-01T00:00:00Z"}
