"""cc_email_campaigns: limit=500, after_date from start_date or state (server-side), `_links.next.href` pagination
whose cursor carries the filter, Removed (deleted) campaigns kept, state saved once the last page is read."""

import json

from airbyte_cdk.models import SyncMode, Type
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from tests.support.builders import V3_URL, StrictHttpMocker, final_state, run_read, stream_state, v3_access_token_config

STREAM = "cc_email_campaigns"
AUTH = {"Authorization": "Bearer test-v3-token"}


def _first_page(after_date: str) -> HttpRequest:
    return HttpRequest(f"{V3_URL}/emails", query_params={"limit": "500", "after_date": after_date}, headers=AUTH)


def _campaign(campaign_id: str, status: str, updated_at: str) -> dict:
    return {"campaign_id": campaign_id, "created_at": "2024-01-15T19:15:02.000Z", "current_status": status,
            "name": f"Campaign {campaign_id}", "type": "NEWSLETTER", "type_code": 10, "updated_at": updated_at}


def test_full_refresh_starts_at_start_date_and_keeps_removed_campaigns() -> None:
    # Newest first, as the API lists them.
    first = {"campaigns": [_campaign("e-3", "Removed", "2025-05-01T10:00:00.000Z"), _campaign("e-2", "Done", "2025-02-01T00:00:00.000Z")],
             "_links": {"next": {"href": "/v3/emails?cursor=emails-2"}}}
    second = {"campaigns": [_campaign("e-1", "Draft", "2024-03-01T00:00:00.000Z")]}
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_first_page("2023-12-31T23:59:59Z"), HttpResponse(json.dumps(first), 200))
        http_mocker.get(HttpRequest(f"{V3_URL}/emails", query_params={"cursor": "emails-2"}, headers=AUTH), HttpResponse(json.dumps(second), 200))

        output = run_read(v3_access_token_config(), STREAM)

    assert [r.record.data for r in output.records] == first["campaigns"] + second["campaigns"]


def test_incremental_sends_the_state_as_after_date_and_saves_the_newest_only_after_the_last_page() -> None:
    state = stream_state(STREAM, {"updated_at": "2025-05-01T10:00:00Z"})
    first = {"campaigns": [_campaign("e-9", "Done", "2025-06-01T12:30:00.250Z")], "_links": {"next": {"href": "/v3/emails?cursor=emails-2"}}}
    second = {"campaigns": [_campaign("e-3", "Removed", "2025-05-01T10:00:00.000Z")]}
    with StrictHttpMocker() as http_mocker:
        # One second before the state: the docs do not say whether after_date is inclusive.
        http_mocker.get(_first_page("2025-05-01T09:59:59Z"), HttpResponse(json.dumps(first), 200))
        http_mocker.get(HttpRequest(f"{V3_URL}/emails", query_params={"cursor": "emails-2"}, headers=AUTH), HttpResponse(json.dumps(second), 200))

        output = run_read(v3_access_token_config(), STREAM, SyncMode.incremental, state=state)

    assert [r.record.data["campaign_id"] for r in output.records] == ["e-9", "e-3"]
    # Newest first: a state saved after the first page would skip the older campaigns of a failed second page.
    assert [m.type for m in output.records_and_state_messages][:3] == [Type.RECORD, Type.RECORD, Type.STATE]
    # Saved to the second: the next read's after_date includes the newest campaign again (inclusive boundary).
    assert final_state(output) == {"updated_at": "2025-06-01T12:30:00Z"}
