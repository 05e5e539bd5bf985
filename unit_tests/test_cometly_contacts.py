"""cometly_contacts: date windows sent in the space time zone, Laravel cursor pagination, include flags, state."""

import json

import pytest

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from tests.support.builders import COMETLY_URL, StrictHttpMocker, cometly_config, final_state, run_read, stream_state

STREAM = "cometly_contacts"
AUTH = {"Authorization": "Bearer test-cometly-key"}

# The last window ends when the sync starts: 2024-03-20T12:00:00Z.
pytestmark = pytest.mark.usefixtures("sync_started_at")


def _request(start: str, end: str, cursor: str = "", tokens: str = "0", emails: str = "0", custom_fields: str = "1") -> HttpRequest:
    params = {"per_page": "5000", "include_comet_tokens": tokens, "include_all_emails": emails, "include_custom_fields": custom_fields,
              "start_date": start, "end_date": end}
    if cursor:
        params["cursor"] = cursor
    return HttpRequest(f"{COMETLY_URL}/contacts", query_params=params, headers=AUTH)


def _page(ids_and_times: list, next_cursor: str = None) -> HttpResponse:
    data = [{"id": i, "email": f"c{i}@example.net", "created_at": t, "comet_tokens": ["ct_1"]} for i, t in ids_and_times]
    return HttpResponse(json.dumps({"data": data, "next_cursor": next_cursor, "per_page": 5000, "prev_cursor": None}), 200)


def test_windows_tile_the_range_in_space_time_and_pages_resend_the_window() -> None:
    config = cometly_config(timezone="America/New_York", window_days=30, include_comet_tokens=True)
    with StrictHttpMocker() as http_mocker:
        # 30-day UTC windows, inclusive at one second; New York is UTC-5, then UTC-4 from 2024-03-10 07:00Z.
        w1, w2, w3 = [("2023-12-31 19:00:00", "2024-01-30 18:59:59"), ("2024-01-30 19:00:00", "2024-02-29 18:59:59"),
                      ("2024-02-29 19:00:00", "2024-03-20 08:00:00")]
        http_mocker.get(_request(*w1, tokens="1"), _page([(1, "2024-01-01T00:00:00.000000Z")], next_cursor="n1"))
        http_mocker.get(_request(*w1, cursor="n1", tokens="1"), _page([(2, "2024-01-30T23:59:59.000000Z")]))
        http_mocker.get(_request(*w2, tokens="1"), _page([(3, "2024-01-31T00:00:00.000000Z")]))
        http_mocker.get(_request(*w3, tokens="1"), _page([(4, "2024-03-20T12:00:00.000000Z")]))

        output = run_read(config, STREAM, SyncMode.incremental)

    assert sorted(r.record.data["id"] for r in output.records) == [1, 2, 3, 4]
    assert output.records[0].record.data["comet_tokens"] == ["ct_1"]
    assert final_state(output) == {"created_at": "2024-03-20T12:00:00Z"}


def test_without_start_date_or_timezone_windows_start_in_2020_in_utc() -> None:
    config = cometly_config(window_days=365)
    del config["start_date"]
    with StrictHttpMocker() as http_mocker:
        ends = ["2020-12-30 23:59:59", "2021-12-30 23:59:59", "2022-12-30 23:59:59", "2023-12-30 23:59:59", "2024-03-20 12:00:00"]
        starts = ["2020-01-01 00:00:00", "2020-12-31 00:00:00", "2021-12-31 00:00:00", "2022-12-31 00:00:00", "2023-12-31 00:00:00"]
        for start, end in zip(starts, ends):
            http_mocker.get(_request(start, end), _page([]))

        output = run_read(config, STREAM)

    assert output.records == []


def test_incremental_starts_at_the_state_inclusive() -> None:
    state = stream_state(STREAM, {"created_at": "2024-03-15T00:00:00Z"})
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_request("2024-03-14 20:00:00", "2024-03-20 08:00:00", emails="1"),
                        _page([(9, "2024-03-15T00:00:00.000000Z"), (10, "2024-03-16T08:00:00.500000Z")]))

        output = run_read(cometly_config(timezone="America/New_York", include_all_emails=True), STREAM, SyncMode.incremental, state=state)

    assert [r.record.data["id"] for r in output.records] == [9, 10]
    assert final_state(output) == {"created_at": "2024-03-16T08:00:00Z"}


def test_a_state_at_the_sync_start_sends_no_empty_window() -> None:
    state = stream_state(STREAM, {"created_at": "2024-03-20T12:00:00Z"})
    with StrictHttpMocker():  # any request would fail the test: nothing is mocked
        output = run_read(cometly_config(), STREAM, SyncMode.incremental, state=state)

    assert output.records == []
    assert output.errors == []


def test_custom_profile_fields_come_by_their_slot_names_unless_turned_off() -> None:
    slots = {"profile_field_1": "Premium", "profile_field_16": 42, "profile_field_26": "2023-05-01", "profile_field_2": None}
    page = {"data": [{"id": 5, "created_at": "2024-03-20T11:00:00.000000Z", **slots}], "next_cursor": None}
    state = stream_state(STREAM, {"created_at": "2024-03-20T11:00:00Z"})
    window = ("2024-03-20 11:00:00", "2024-03-20 12:00:00")
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_request(*window), HttpResponse(json.dumps(page), 200))
        output = run_read(cometly_config(), STREAM, SyncMode.incremental, state=state)
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_request(*window, custom_fields="0"), _page([(5, "2024-03-20T11:00:00.000000Z")]))
        run_read(cometly_config(include_custom_fields=False), STREAM, SyncMode.incremental, state=state)

    [record] = [r.record.data for r in output.records]
    # A null slot is left out of the record, like every null field.
    assert {k: v for k, v in record.items() if k.startswith("profile_field_")} == {"profile_field_1": "Premium", "profile_field_16": 42,
                                                                                 "profile_field_26": "2023-05-01"}
