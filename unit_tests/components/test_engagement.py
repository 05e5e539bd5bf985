"""The engagement components: EngagementWindowRetriever (final activities cost no call), LastSendExtractor (the newest
run_date), PerActivityState (no global fallback, activities read without an event marked read) and UnderscoredKeys."""

import json
from datetime import datetime, timedelta, timezone
from unittest.mock import MagicMock

import pytest
import requests

from airbyte_cdk.sources.types import StreamSlice

from source_contacts.components.engagement_window import EngagementWindowRetriever
from source_contacts.components.last_sends import LastSendExtractor
from source_contacts.components.per_activity_state import PerActivityState
from source_contacts.components.stats_keys import UnderscoredKeys

EPOCH = "1970-01-01T00:00:00Z"


def _days_ago(days: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _window_retriever(days: str = "{{ config['constant_contact'].get('engagement_window_days') or 30 }}") -> EngagementWindowRetriever:
    inner = MagicMock()
    inner.read_records.return_value = iter([{"contact_id": "k-1"}])
    return EngagementWindowRetriever(retriever=inner, window_days=days, first_read_start=EPOCH,
                                     config={"constant_contact": {"engagement_window_days": 10}}, parameters={}, name="cc_email_opens")


def _slice(start: str, last_sent: str) -> StreamSlice:
    return StreamSlice(partition={"campaign_activity_id": "a-1"}, cursor_slice={"start_time": start, "end_time": _days_ago(0)},
                       extra_fields={"last_sent_at": last_sent})


@pytest.mark.parametrize(
    "start, last_sent, read",
    [
        ("2025-01-01T00:00:00Z", _days_ago(11), False),   # read before, window (10 days) over: final
        ("2025-01-01T00:00:00Z", _days_ago(9), True),     # read before, still in its window
        (EPOCH, _days_ago(400), True),                    # never read (a first sync, a full refresh): read once
    ],
)
def test_an_activity_is_read_until_its_window_closes_once_it_was_read(start: str, last_sent: str, read: bool) -> None:
    retriever = _window_retriever()

    records = list(retriever.read_records({}, _slice(start, last_sent)))

    assert records == ([{"contact_id": "k-1"}] if read else [])
    assert retriever.retriever.read_records.called is read


def _history(body: list) -> requests.Response:
    response = requests.Response()
    response._content = json.dumps(body).encode()
    response.status_code = 200
    return response


def test_the_last_send_is_the_newest_run_date_whatever_its_offset() -> None:
    history = [{"send_id": 1, "run_date": "2025-02-01T10:00:00.000Z"}, {"send_id": 2, "run_date": "2025-02-01T12:00:00+05:00"},
               {"send_id": 3, "run_date": "2025-02-01T09:00:00-03:00"}]

    assert list(LastSendExtractor(parameters={}).extract_records(_history(history))) == [{"last_sent_at": "2025-02-01T09:00:00-03:00"}]
    assert list(LastSendExtractor(parameters={}).extract_records(_history([]))) == []


def test_the_state_keeps_each_activity_drops_the_global_cursor_and_marks_activities_read_without_an_event() -> None:
    migration = PerActivityState(cursor_field="created_time", cursor_start=EPOCH, parameters={})
    state = {"use_global_cursor": False, "state": {"created_time": "2025-02-03T10:00:00Z"}, "lookback_window": 12,
             "states": [{"partition": {"campaign_activity_id": "a-1"}, "cursor": {"created_time": "2025-02-03T10:00:00Z"}},
                        {"partition": {"campaign_activity_id": "a-2"}, "cursor": {"created_time": EPOCH}}]}

    assert migration.should_migrate(state)
    assert migration.migrate(state) == {
        "use_global_cursor": False,
        "states": [{"partition": {"campaign_activity_id": "a-1"}, "cursor": {"created_time": "2025-02-03T10:00:00Z"}},
                   {"partition": {"campaign_activity_id": "a-2"}, "cursor": {"created_time": "1970-01-01T00:00:01Z"}}]}
    assert not migration.should_migrate(migration.migrate(state))


def test_dotted_stats_keys_become_underscores() -> None:
    record = {"campaign_activity_id": "a-1", "stats": {"em_opens.all.mobile": 3, "em_clicks_all": 2}}

    UnderscoredKeys(field_path=["stats"], parameters={}).transform(record)

    assert record == {"campaign_activity_id": "a-1", "stats": {"em_opens_all_mobile": 3, "em_clicks_all": 2}}
