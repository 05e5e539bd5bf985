"""components/common.py: slice_location, ExportSliceRecordFilter (partition fields, cursor floor, slice named on failure),
and PausingApiBudget (Retry-After for every thread, no wait for budget over 10 minutes)."""

import threading
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest
import requests
import yaml

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.models.declarative_component_schema import HTTPAPIBudget as HTTPAPIBudgetModel
from airbyte_cdk.sources.streams.call_rate import HttpAPIBudget, MovingWindowCallRatePolicy, Rate
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.cdk_hooks import ContactsComponentFactory
from source_contacts.components import common
from source_contacts.components.common import ExportSliceRecordFilter, PausingApiBudget, slice_location
from tests.support.fixtures import SleepRecorder

MANIFEST = Path(common.__file__).parent.parent / "manifest.yaml"
COMETLY = "https://app.cometly.com/public-api/v1"

# ---------------------------------------------------------------- slice_location


def test_a_window_is_named_by_its_bounds_even_with_a_partition() -> None:
    window = {"start_time": "2024-01-01T00:00:00Z", "end_time": "2024-01-30T23:59:59Z"}
    assert slice_location(StreamSlice(partition={"list_id": "1"}, cursor_slice=window)) == window


def test_a_list_partition_is_named_by_its_id() -> None:
    assert slice_location(StreamSlice(partition={"list_id": "7"}, cursor_slice={})) == {"list_id": "7"}


def test_no_slice_is_empty() -> None:
    assert slice_location(None) == {}


# ---------------------------------------------------------------- ExportSliceRecordFilter


def _filter(**kwargs: object) -> ExportSliceRecordFilter:
    return ExportSliceRecordFilter(parameters={"name": "s"}, config={}, **kwargs)


def test_partition_fields_are_copied_into_every_record() -> None:
    records = [{"email": "a@x"}, {"email": "b@x"}]
    out = list(_filter(partition_fields=["list_id"]).filter_records(records, {}, StreamSlice(partition={"list_id": "7"}, cursor_slice={})))
    assert out == [{"email": "a@x", "list_id": "7"}, {"email": "b@x", "list_id": "7"}]


def test_records_before_the_slice_start_second_are_dropped_and_undated_ones_kept() -> None:
    window = StreamSlice(partition={}, cursor_slice={"start_time": "2024-05-01T10:00:00.700Z", "end_time": "2024-06-01T00:00:00.000Z"})
    records = [
        {"id": 1, "updated_at": "2024-05-01T09:59:59.999Z"},
        {"id": 2, "updated_at": "2024-05-01T10:00:00.000Z"},
        {"id": 3, "updated_at": "2024-05-02T00:00:00.000Z"},
        {"id": 4, "updated_at": None},
    ]
    out = list(_filter(cursor_field="updated_at").filter_records(records, {}, window))
    assert [r["id"] for r in out] == [2, 3, 4]


def test_a_failure_while_reading_names_the_slice() -> None:
    def broken() -> Iterator[dict]:
        yield {"email": "a@x"}
        raise AirbyteTracedException(message="Stream s: the export file f is broken: row 2.", failure_type=FailureType.system_error)

    out = _filter(partition_fields=["list_id"]).filter_records(broken(), {}, StreamSlice(partition={"list_id": "7"}, cursor_slice={}))
    assert next(out) == {"email": "a@x", "list_id": "7"}
    with pytest.raises(AirbyteTracedException) as raised:
        next(out)
    assert raised.value.message == "Stream s: the export file f is broken: row 2. Slice: {'list_id': '7'}."


# ---------------------------------------------------------------- PausingApiBudget


@pytest.fixture
def manifest_budget() -> PausingApiBudget:
    """The manifest's api_budget as the connector's factory builds it."""
    definition = yaml.safe_load(MANIFEST.read_text())["api_budget"]
    return ContactsComponentFactory().create_component(HTTPAPIBudgetModel, definition, config={})


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The connector's clock stands still: a pause's remaining time is exactly what Retry-After said."""
    monkeypatch.setattr(common, "monotonic", lambda: 1000.0)


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
