"""components/guarded_credentials.py: credentials only to the configured host, no call once the daily quota is spent,
and a 429's Retry-After (seconds or an HTTP date) holding its endpoint for every thread."""

import threading
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest
import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.auth.declarative_authenticator import NoAuth
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components import guarded_credentials
from source_contacts.components.guarded_credentials import SYNC_CALLS, GuardedCredentials, retry_after_seconds
from tests.support.fixtures import SleepRecorder

COMETLY = "https://app.cometly.com/public-api/v1"


@pytest.fixture(autouse=True)
def new_sync(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test is a sync of its own, on a clock that stands still: a pause lasts exactly what Retry-After said."""
    monkeypatch.setattr(guarded_credentials, "monotonic", lambda: 1000.0)
    SYNC_CALLS.start()
    yield
    SYNC_CALLS.start()


def guard(stream: str = "s", api_url: str = COMETLY, **options: object) -> GuardedCredentials:
    return GuardedCredentials(authenticator=NoAuth(parameters={}), config={}, parameters={"name": stream}, api_url=api_url, **options)


def request(method: str, url: str) -> requests.PreparedRequest:
    return requests.Request(method, url).prepare()


def answer(status: int, body: bytes = b"{}", **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, body
    response.headers.update(headers)
    return response


def test_a_429_retry_after_holds_its_endpoint_for_every_thread(sleeps: SleepRecorder) -> None:
    window = request("GET", f"{COMETLY}/contacts?start_date=2024-01-01")
    guard("cometly_contacts").update_from_response(window, answer(429, **{"Retry-After": "5"}))

    other_window = threading.Thread(target=guard("cometly_contacts"), args=(request("GET", f"{COMETLY}/contacts?start_date=2025-01-01"),))
    other_window.start()
    other_window.join()
    guard("cometly_contacts_export")(request("POST", f"{COMETLY}/contacts/exports"))  # another endpoint: not held

    assert sleeps.waits == [5.0]


def test_export_polls_of_different_jobs_are_one_endpoint(sleeps: SleepRecorder) -> None:
    guard().update_from_response(request("GET", f"{COMETLY}/contacts/exports/123"), answer(429, **{"Retry-After": "3"}))
    guard()(request("GET", f"{COMETLY}/contacts/exports/124"))
    assert sleeps.waits == [3.0]


def test_a_retry_after_given_as_an_http_date_is_honoured(sleeps: SleepRecorder) -> None:
    in_two_minutes = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=120), usegmt=True)
    assert 115 <= retry_after_seconds(in_two_minutes) <= 120
    guard().update_from_response(request("GET", f"{COMETLY}/contacts"), answer(429, **{"Retry-After": in_two_minutes}))

    guard()(request("GET", f"{COMETLY}/contacts"))

    assert len(sleeps.waits) == 1 and 115 <= sleeps.waits[0] <= 120


def test_a_pause_longer_than_10_minutes_fails_the_next_call_saying_when_to_run_again(sleeps: SleepRecorder) -> None:
    guard().update_from_response(request("GET", f"{COMETLY}/contacts"), answer(429, **{"Retry-After": "3600"}))

    with pytest.raises(AirbyteTracedException) as refused:
        guard("cometly_contacts")(request("GET", f"{COMETLY}/contacts"))

    assert refused.value.failure_type == FailureType.transient_error
    assert refused.value.message.startswith(
        "Stream cometly_contacts: GET /public-api/v1/contacts asked to wait 3600 s (Retry-After) before the next call, more "
        "than the 10 minutes the connector waits. The sync stops here (the state it saved stands); run it again after "
    )
    assert sleeps.waits == []


@pytest.mark.parametrize("url", ["https://attacker.example/public-api/v1/contacts?cursor=x", "http://app.cometly.com:8080/public-api/v1/contacts"])
def test_a_link_to_another_host_is_refused_before_anything_is_sent(url: str) -> None:
    outgoing = request("GET", url)
    with pytest.raises(AirbyteTracedException) as refused:
        guard("cometly_contacts")(outgoing)
    assert refused.value.message.startswith(f"Stream cometly_contacts: the API sent a link to {url.split('?')[0]}, on another host")
    assert "Authorization" not in outgoing.headers


def test_quota_exceeded_in_one_stream_stops_every_stream_of_that_api_only() -> None:
    v3 = dict(api_url="https://api.cc.email/v3", quota="constant_contact", daily_calls=10000, quota_message="Quota spent.")
    contacts = request("GET", "https://api.cc.email/v3/contacts")
    guard("cc_contacts", **v3).update_from_response(contacts, answer(429, b'{"error_key": "quota_exceeded", "error_message": "Limit Exceeded"}'))

    with pytest.raises(AirbyteTracedException) as refused:
        guard("cc_email_campaigns", **v3)(request("GET", "https://api.cc.email/v3/emails"))
    assert (refused.value.message, refused.value.failure_type) == ("Stream cc_email_campaigns: Quota spent.", FailureType.transient_error)
    guard("cc_v2_lists", api_url="https://api.constantcontact.com/v2", quota="constant_contact_v2")(request("GET", "https://api.constantcontact.com/v2/lists"))


def test_no_call_after_the_daily_calls_this_sync_made_and_a_summary_per_stream() -> None:
    v3 = dict(api_url="https://api.cc.email/v3", quota="constant_contact", daily_calls=3, quota_message="Quota spent.")
    lists, campaigns = guard("cc_contact_lists", **v3), guard("cc_email_campaigns", **v3)
    for credentials in (lists, lists, campaigns):
        outgoing = request("GET", "https://api.cc.email/v3/contact_lists")
        credentials(outgoing)
        credentials.update_from_response(outgoing, answer(200))

    with pytest.raises(AirbyteTracedException):
        campaigns(request("GET", "https://api.cc.email/v3/emails"))
    assert SYNC_CALLS.summary("cc_contact_lists", daily_calls=3) == (
        "Stream cc_contact_lists made 2 calls to constant_contact; 0 of the day's 3 are left as far as this sync knows."
    )
    assert SYNC_CALLS.summary("cometly_contacts") is None
