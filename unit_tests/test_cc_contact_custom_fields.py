"""cc_contact_custom_fields: limit=100, `_links.next.href` pagination, client-side incremental on updated_at."""

import json

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from tests.support.builders import V3_URL, StrictHttpMocker, final_state, run_read, stream_state, v3_access_token_config

STREAM = "cc_contact_custom_fields"
AUTH = {"Authorization": "Bearer test-v3-token"}


def _field(field_id: str, label: str, updated_at: str) -> dict:
    return {"custom_field_id": field_id, "label": label, "name": label.lower().replace(" ", "_"), "type": "string",
            "created_at": "2023-05-01T08:00:00Z", "updated_at": updated_at}


# cf-1 last changed before the config's start_date (2024-01-01).
FIELDS = [_field("cf-1", "Favorite Color", "2023-02-01T00:00:00Z"), _field("cf-2", "Shoe Size", "2025-03-01T10:00:00Z"),
          _field("cf-3", "Referral Code", "2024-06-01T00:00:00Z")]


def _mock_two_pages(http_mocker: StrictHttpMocker) -> None:
    first = {"custom_fields": FIELDS[:2], "_links": {"next": {"href": "/v3/contact_custom_fields?cursor=cf-page-2"}}}
    http_mocker.get(HttpRequest(f"{V3_URL}/contact_custom_fields", query_params={"limit": "100"}, headers=AUTH),
                    HttpResponse(json.dumps(first), 200))
    # The next page is the href as given: its cursor alone.
    http_mocker.get(HttpRequest(f"{V3_URL}/contact_custom_fields", query_params={"cursor": "cf-page-2"}, headers=AUTH),
                    HttpResponse(json.dumps({"custom_fields": FIELDS[2:]}), 200))


def test_full_refresh_asks_for_pages_of_100_and_emits_every_field_even_one_older_than_start_date() -> None:
    with StrictHttpMocker() as http_mocker:
        _mock_two_pages(http_mocker)

        output = run_read(v3_access_token_config(), STREAM)

    assert [r.record.data for r in output.records] == FIELDS


def test_incremental_keeps_fields_updated_at_or_after_the_state_and_saves_the_newest() -> None:
    state = stream_state(STREAM, {"updated_at": "2024-06-01T00:00:00Z"})
    with StrictHttpMocker() as http_mocker:
        _mock_two_pages(http_mocker)

        output = run_read(v3_access_token_config(), STREAM, SyncMode.incremental, state=state)

    # cf-1 is older than the state; cf-3 equals it and is read again (inclusive cursor).
    assert sorted(r.record.data["custom_field_id"] for r in output.records) == ["cf-2", "cf-3"]
    assert final_state(output) == {"updated_at": "2025-03-01T10:00:00Z"}
