"""Time bounds at the HTTP-client level: the timeouts every request is sent with, and a request that timed out
retried like a 5xx. (A real stall with the real timeouts: integration_tests/test_stalled_answers.py.)"""

import json
from typing import Any, Iterator

import pytest
import requests

from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from source_contacts import SourceContacts
from tests.support.builders import COMETLY_URL, V2_URL, V3_URL, StrictHttpMocker, cometly_config, run_read, v2_config, v3_access_token_config
from tests.support.fixtures import SleepRecorder

# (connect, read) in seconds, as requests takes them.
TIMEOUTS = (10, 60)
V2_AUTH = {"Authorization": "Bearer test-v2-token"}
V2_KEY = {"api_key": "test-v2-key"}
# The one window from start_date to the pinned sync start (sync_started_at).
COMETLY_WINDOW = {"per_page": "5000", "include_comet_tokens": "0", "include_all_emails": "0", "include_custom_fields": "1",
                  "start_date": "2024-01-01 00:00:00", "end_date": "2024-03-20 12:00:00"}


def requesters(node: Any) -> Iterator[dict]:
    """Every requester definition in a resolved manifest."""
    if isinstance(node, dict):
        if node.get("type") in ("HttpRequester", "CustomRequester"):
            yield node
        for value in node.values():
            yield from requesters(value)
    elif isinstance(node, list):
        for value in node:
            yield from requesters(value)


def test_every_requester_of_the_manifest_has_the_timeouts_and_keepalive() -> None:
    manifest = SourceContacts(config=v2_config())._source_config

    found = list(requesters(manifest["definitions"]))

    # Wrappers (CometlyWindowRequester) wrap one of these; every requester that sends has the limits.
    senders = [r for r in found if "url_base" in r]
    assert len(senders) >= 4
    assert [(r["connect_timeout_in_seconds"], r["read_timeout_in_seconds"], r["use_tcp_keepalive"]) for r in senders] == [(10, 60, True)] * len(senders)


@pytest.mark.parametrize(
    "config, stream, url, query, headers, body",
    [
        (v2_config(), "cc_v2_lists", f"{V2_URL}/lists", {**V2_KEY, "modified_since": "2024-01-01T00:00:00.000Z"}, V2_AUTH, []),
        (v3_access_token_config(), "cc_contact_lists", f"{V3_URL}/contact_lists", {"limit": "1000"}, {"Authorization": "Bearer test-v3-token"}, {"lists": []}),
        (cometly_config(window_days=365), "cometly_contacts", f"{COMETLY_URL}/contacts", COMETLY_WINDOW, {"Authorization": "Bearer test-cometly-key"}, {"data": []}),
    ],
)
@pytest.mark.usefixtures("sync_started_at")
def test_each_provider_sends_requests_with_the_connect_and_read_timeouts(config, stream, url, query, headers, body) -> None:
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(HttpRequest(url, query_params=query, headers=headers), HttpResponse(json.dumps(body), 200))

        run_read(config, stream)

    sent = http_mocker.sent("GET")
    assert sent and {r.timeout for r in sent} == {TIMEOUTS}


def test_an_export_job_and_its_file_are_fetched_with_the_timeouts() -> None:
    created = {"id": "a1", "type": "EXPORT_CONTACTS", "error_count": 0}
    done = {"id": "a1", "status": "COMPLETE", "file_name": "https://api.constantcontact.com/v2/exports/a1.csv"}
    with StrictHttpMocker() as http_mocker:
        http_mocker._mocker.post(f"{V2_URL}/activities/exportcontacts", json=created, status_code=201)
        http_mocker._mocker.get(f"{V2_URL}/activities/a1", json=done)
        http_mocker._mocker.get(done["file_name"], text="Email\r\na@example.org\r\n")

        output = run_read(v2_config(list_ids=["1"]), "cc_v2_contacts_export")

    assert [r.record.data["email"] for r in output.records] == ["a@example.org"]
    assert [(r.method, r.timeout) for r in http_mocker._mocker.request_history] == [("POST", TIMEOUTS), ("GET", TIMEOUTS), ("GET", TIMEOUTS)]


@pytest.mark.parametrize("error", [requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError("Read timed out.")])
def test_a_request_that_got_no_byte_in_time_is_retried_like_a_5xx(sleeps: SleepRecorder, error: Exception) -> None:
    # ReadTimeout: no answer in 60 s; ConnectionError("Read timed out."): an answer that stalled half way.
    lists = [{"id": "1", "name": "A", "modified_date": "2024-02-01T00:00:00.000Z"}]
    with StrictHttpMocker() as http_mocker:
        http_mocker._mocker.get(f"{V2_URL}/lists", [{"exc": error}, {"json": lists, "status_code": 200}])

        output = run_read(v2_config(), "cc_v2_lists")

    assert [r.record.data["id"] for r in output.records] == ["1"]
    assert output.errors == []
    assert sleeps.waits == [1]
