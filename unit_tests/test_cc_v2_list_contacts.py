"""cc_v2_list_contacts: next_link pagination with api_key on every page, per-list incremental, errors."""

import json
from unittest import TestCase

from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse

from tests.support.builders import V2_URL, final_state, per_partition_state, run_read, stream_error, stream_state, v2_config

STREAM = "cc_v2_list_contacts"
START = "2024-01-01T00:00:00.000Z"


def _member(contact_id: str, updated: str) -> dict:
    return {"id": contact_id, "status": "ACTIVE", "first_name": f"First {contact_id}", "last_update_date": updated}


def _page(members: list, next_link: str | None = None) -> HttpResponse:
    pagination = {"next_link": next_link} if next_link else {}
    return HttpResponse(json.dumps({"meta": {"pagination": pagination}, "results": members}), 200)


def _members_request(list_id: str, modified_since: str = START, next_token: str | None = None) -> HttpRequest:
    params = {"api_key": "test-v2-key", "limit": "500", "modified_since": modified_since}
    if next_token:
        params["next"] = next_token
    return HttpRequest(
        f"{V2_URL}/lists/{list_id}/contacts", query_params=params, headers={"Authorization": "Bearer test-v2-token"}
    )


class CcV2ListContactsTest(TestCase):
    @HttpMocker()
    def test_next_link_pages_carry_api_key_and_records_get_list_id(self, http_mocker: HttpMocker) -> None:
        http_mocker.get(
            _members_request("1"),
            _page([_member("11", "2024-02-01T10:00:00.000Z"), _member("12", "2024-02-02T10:00:00.000Z")], "/v2/lists/1/contacts?next=c3RhcnQ9Mg"),
        )
        http_mocker.get(_members_request("1", next_token="c3RhcnQ9Mg"), _page([_member("13", "2024-03-01T00:00:00.000Z")]))

        output = run_read(v2_config(list_ids=["1"]), STREAM)

        assert [(r.record.data["list_id"], r.record.data["id"]) for r in output.records] == [("1", "11"), ("1", "12"), ("1", "13")]
        assert [r.record.data["updated_at"] for r in output.records] == [
            "2024-02-01T10:00:00.000Z",
            "2024-02-02T10:00:00.000Z",
            "2024-03-01T00:00:00.000Z",
        ]

    @HttpMocker()
    def test_incremental_sends_each_lists_own_modified_since_and_keeps_state_per_list(self, http_mocker: HttpMocker) -> None:
        http_mocker.get(_members_request("1", modified_since="2025-01-01T00:00:00.000Z"), _page([_member("11", "2025-02-01T00:00:00.000Z")]))
        http_mocker.get(_members_request("2"), _page([_member("21", "2024-06-01T00:00:00.000Z")]))
        state = per_partition_state(STREAM, "updated_at", {"1": "2025-01-01T00:00:00.000Z"}, key="list_id")

        output = run_read(v2_config(list_ids=["1", "2"]), STREAM, SyncMode.incremental, state=state)

        assert sorted((r.record.data["list_id"], r.record.data["id"]) for r in output.records) == [("1", "11"), ("2", "21")]
        cursors = {s["partition"]["list_id"]: s["cursor"]["updated_at"] for s in final_state(output)["states"]}
        # The newest updated_at emitted per list: never the sync's start, never past what was read.
        assert cursors == {"1": "2025-02-01T00:00:00.000Z", "2": "2024-06-01T00:00:00.000Z"}

    @HttpMocker()
    def test_a_list_seen_for_the_first_time_starts_at_start_date_not_at_the_other_lists_cursor(self, http_mocker: HttpMocker) -> None:
        # As the CDK writes it after a sync of list 1: per-list cursors plus a fallback cursor for new lists.
        saved = {"states": [{"partition": {"list_id": "1"}, "cursor": {"updated_at": "2025-01-01T00:00:00.000Z"}}],
                 "state": {"updated_at": "2025-01-01T00:00:00.000Z"}, "lookback_window": 3, "use_global_cursor": False}
        http_mocker.get(_members_request("1", modified_since="2025-01-01T00:00:00.000Z"), _page([]))
        http_mocker.get(_members_request("2"), _page([_member("21", "2024-06-01T00:00:00.000Z")]))

        output = run_read(v2_config(list_ids=["1", "2"]), STREAM, SyncMode.incremental, state=stream_state(STREAM, saved))

        assert [(r.record.data["list_id"], r.record.data["id"]) for r in output.records] == [("2", "21")]

    @HttpMocker()
    def test_every_list_is_read_when_list_ids_is_omitted(self, http_mocker: HttpMocker) -> None:
        http_mocker.get(
            HttpRequest(f"{V2_URL}/lists", query_params={"api_key": "test-v2-key"}),
            HttpResponse(json.dumps([{"id": "1", "name": "A"}, {"id": "3", "name": "C"}]), 200),
        )
        http_mocker.get(_members_request("1"), _page([_member("11", "2024-02-01T00:00:00.000Z")]))
        http_mocker.get(_members_request("3"), _page([]))

        output = run_read(v2_config(), STREAM)

        assert [(r.record.data["list_id"], r.record.data["id"]) for r in output.records] == [("1", "11")]

    @HttpMocker()
    def test_unauthorized_is_a_config_error_naming_the_provider(self, http_mocker: HttpMocker) -> None:
        http_mocker.get(_members_request("1"), HttpResponse(json.dumps([{"error_key": "http.status.unauthorized"}]), 401))

        output = run_read(v2_config(list_ids=["1"]), STREAM, expecting_exception=True)

        assert output.records == []
        assert output.errors[0].trace.error.failure_type == FailureType.config_error
        assert stream_error(output, STREAM) == (
            "Constant Contact v2 rejected the credentials (HTTP 401/403): "
            "check api_key and access_token in the constant_contact_v2 section."
        )

    @HttpMocker()
    def test_missing_list_fails_as_a_config_error_naming_the_list(self, http_mocker: HttpMocker) -> None:
        http_mocker.get(_members_request("99"), HttpResponse(json.dumps([{"error_key": "http.status.not_found"}]), 404))

        output = run_read(v2_config(list_ids=["99"]), STREAM, expecting_exception=True)

        assert output.errors[0].trace.error.failure_type == FailureType.config_error
        # The list's URL without its query: no api_key in the message.
        assert stream_error(output, STREAM) == (
            f"Constant Contact v2 answered 404 Not Found for {V2_URL}/lists/99/contacts: "
            "there is no list 99 in this account; remove it from constant_contact_v2.list_ids."
        )
