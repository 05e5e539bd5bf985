"""cc_segments: limit=1000, `_links.next.href` pagination, integer segment_id, client-side incremental on edited_at."""

import json

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from tests.support.builders import V3_URL, StrictHttpMocker, final_state, run_read, stream_state, v3_access_token_config

STREAM = "cc_segments"
AUTH = {"Authorization": "Bearer test-v3-token"}


def _segment(segment_id: int, edited_at: str) -> dict:
    return {"name": f"Segment {segment_id}", "segment_id": segment_id, "created_at": "2024-01-10T09:00:00Z", "edited_at": edited_at}


def test_incremental_reads_both_pages_and_keeps_segments_edited_at_or_after_the_state() -> None:
    # The API lists the most recently edited first.
    first = {"segments": [_segment(7, "2025-04-02T08:00:00Z"), _segment(3, "2025-02-01T00:00:00Z")],
             "_links": {"next": {"href": "/v3/segments?cursor=seg-2"}}}
    second = {"segments": [_segment(5, "2024-11-30T00:00:00Z")]}
    state = stream_state(STREAM, {"edited_at": "2025-02-01T00:00:00Z"})
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(HttpRequest(f"{V3_URL}/segments", query_params={"limit": "1000"}, headers=AUTH), HttpResponse(json.dumps(first), 200))
        http_mocker.get(HttpRequest(f"{V3_URL}/segments", query_params={"cursor": "seg-2"}, headers=AUTH), HttpResponse(json.dumps(second), 200))

        output = run_read(v3_access_token_config(), STREAM, SyncMode.incremental, state=state)

    assert [r.record.data for r in output.records] == first["segments"]
    assert final_state(output) == {"edited_at": "2025-04-02T08:00:00Z"}
