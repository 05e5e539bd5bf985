"""components/http_handling.py: PausingApiBudget (Retry-After for every thread, no wait for budget over 10 minutes, the
manifest's documented rates)."""

import threading
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import yaml

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.models.declarative_component_schema import HTTPAPIBudget as HTTPAPIBudgetModel
from airbyte_cdk.sources.streams.call_rate import HttpAPIBudget, MovingWindowCallRatePolicy, Rate
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.cdk_hooks import ContactsComponentFactory
from source_contacts.components import http_handling
from source_contacts.components.http_handling import PausingApiBudget
from tests.support.fixtures import SleepRecorder

MANIFEST = Path(__file__).resolve().parents[2] / "source_contacts" / "manifest.yaml"
COMETLY = "https://app.cometly.com/public-api/v1"


@pytest.fixture
def manifest_budget() -> PausingApiBudget:
    """The manifest's api_budget as the connector's factory builds it."""
    definition = yaml.safe_load(MANIFEST.read_text())["api_budget"]
    return ContactsComponentFactory().create_component(HTTPAPIBudgetModel, definition, config={})


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The connector's clock stands still: a pause's remaining time is exactly what Retry-After said."""
    monkeypatch.setattr(http_handling, "monotonic", lambda: 1000.0)


def _request(method: str, url: str) -> requests.PreparedRequest:
    return requests.Request(method, url).prepare()


def _answer(status: int, **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    return response


@pytest.mark.usefixtures("frozen_clock")
def test_a_429_retry_after_pauses_its_endpoint_for_every_thread(manifest_budget: PausingApiBudget, sleeps: SleepRecorder) -> None:
    window = _request("GET", f"{COMETLY}/contacts?start_date=2024-01-01")
    manifest_budget.acquire_call(window)
    manifest_budget.update_from_response(window, _answer(429, **{"Retry-After": "5"}))

    other_window = threading.Thread(target=manifest_budget.acquire_call, args=(_request("GET", f"{COMETLY}/contacts?start_date=2025-01-01"),))
    other_window.start()
    other_window.join()
    manifest_budget.acquire_call(_request("POST", f"{COMETLY}/contacts/exports"))  # another endpoint: not paused

    assert sleeps.waits == [5.0]


@pytest.mark.usefixtures("frozen_clock")
def test_a_retry_after_beyond_10_minutes_pauses_nothing_since_the_stream_fails(manifest_budget: PausingApiBudget, sleeps: SleepRecorder) -> None:
    window = _request("GET", f"{COMETLY}/contacts")
    manifest_budget.update_from_response(window, _answer(429, **{"Retry-After": "601"}))

    manifest_budget.acquire_call(window)

    assert sleeps.waits == []


def test_a_call_that_would_wait_more_than_10_minutes_for_budget_fails_saying_when_to_run_again(sleeps: SleepRecorder) -> None:
    once_a_day = MovingWindowCallRatePolicy(rates=[Rate(limit=1, interval=timedelta(days=1))], matchers=[])
    budget = PausingApiBudget(HttpAPIBudget(policies=[once_a_day]))
    contacts = _request("GET", "https://api.cc.email/v3/contacts?limit=500")
    budget.acquire_call(contacts)

    with pytest.raises(AirbyteTracedException) as refused:
        budget.acquire_call(contacts)

    assert refused.value.failure_type == FailureType.transient_error
    assert refused.value.message.startswith(
        "This sync has made all the calls the API allows to https://api.cc.email/v3/contacts for now: the next one would "
        "wait 1 day, 0:00:00, longer than the 10 minutes the connector waits. The sync stops here (the state it saved "
        "stands); run it again after "
    )
    assert sleeps.waits == []


@pytest.mark.parametrize("url", ["https://api.cc.email/v3/contacts", "https://api.constantcontact.com/v2/lists"])
def test_constant_contact_budgets_count_4_calls_a_second_and_10000_a_day(manifest_budget: PausingApiBudget, url: str) -> None:
    policy = str(manifest_budget.get_matching_policy(_request("GET", url)))
    assert "rates=[4 per 0:00:01, 10000 per 1 day, 0:00:00]" in policy
