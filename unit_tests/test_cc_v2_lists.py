"""cc_v2_lists: every list in one call, modified_since from start_date or state."""

import json
from unittest import TestCase

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse

from tests.support.builders import V2_URL, final_state, run_read, stream_state, v2_config

STREAM = "cc_v2_lists"


def _lists_request(modified_since: str) -> HttpRequest:
    return HttpRequest(
        f"{V2_URL}/lists",
        query_params={"api_key": "test-v2-key", "modified_since": modified_since},
        headers={"Authorization": "Bearer test-v2-token"},
    )


class CcV2ListsTest(TestCase):
    @HttpMocker()
    def test_full_refresh_reads_every_list_from_start_date(self, http_mocker: HttpMocker) -> None:
        lists = [{"id": "1", "name": "Key Accounts", "modified_date": "2024-02-01T00:00:00.000Z"}, {"id": "2", "name": "B", "modified_date": "2024-03-01T00:00:00.000Z"}]
        http_mocker.get(_lists_request("2024-01-01T00:00:00.000Z"), HttpResponse(json.dumps(lists), 200))

        output = run_read(v2_config(), STREAM)

        assert [r.record.data["id"] for r in output.records] == ["1", "2"]

    @HttpMocker()
    def test_incremental_sends_state_as_modified_since(self, http_mocker: HttpMocker) -> None:
        http_mocker.get(
            _lists_request("2025-05-05T10:00:00.000Z"),
            HttpResponse(json.dumps([{"id": "2", "name": "B", "modified_date": "2025-06-01T00:00:00.000Z"}]), 200),
        )
        state = stream_state(STREAM, {"modified_date": "2025-05-05T10:00:00.000Z"})

        output = run_read(v2_config(), STREAM, SyncMode.incremental, state=state)

        assert [r.record.data["id"] for r in output.records] == ["2"]
        assert final_state(output)["modified_date"] == "2025-06-01T00:00:00.000Z"
