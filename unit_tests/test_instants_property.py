"""Property: whatever offsets the API writes its stamps with, and however many records sit exactly on the state's
instant, an incremental read keeps every record at or after the state (none on the edge lost), emits every stamp in
UTC, and saves as state the newest instant emitted, never a later one and never a wall time with its offset dropped."""

import json
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from tests.support.builders import V3_URL, StrictHttpMocker, final_state, run_read, stream_state, v3_access_token_config

STATE = datetime(2024, 6, 1, tzinfo=timezone.utc)
OFFSETS = st.integers(min_value=-14 * 4, max_value=14 * 4).map(lambda quarters: timedelta(minutes=15 * quarters))
# Seconds from the state: some exactly on it, some before, some after (all in the past: the sync starts now).
SECONDS = st.one_of(st.just(0), st.integers(min_value=-86_400 * 30, max_value=86_400 * 30))


def _written(instant: datetime, offset: timedelta) -> str:
    """`instant` as the API may write it: the same instant at `offset`."""
    local = instant.astimezone(timezone(offset))
    return local.isoformat(timespec="seconds").replace("+00:00", "Z")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(SECONDS, OFFSETS), min_size=1, max_size=8))
def test_offsets_and_edges_never_lose_a_record_nor_move_the_state_past_the_newest_instant(stamps: list) -> None:
    instants = [STATE + timedelta(seconds=seconds) for seconds, _ in stamps]
    lists = [{"list_id": f"l{n}", "name": f"List {n}", "updated_at": _written(instant, offset)}
             for n, (instant, (_, offset)) in enumerate(zip(instants, stamps))]
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(HttpRequest(f"{V3_URL}/contact_lists", query_params={"limit": "1000"}, headers={"Authorization": "Bearer test-v3-token"}),
                        HttpResponse(json.dumps({"lists": lists}), 200))
        output = run_read(v3_access_token_config(), "cc_contact_lists", SyncMode.incremental,
                          state=stream_state("cc_contact_lists", {"updated_at": STATE.strftime("%Y-%m-%dT%H:%M:%SZ")}))

    kept = {f"l{n}" for n, instant in enumerate(instants) if instant >= STATE}
    assert {r.record.data["list_id"] for r in output.records} == kept
    assert all(r.record.data["updated_at"].endswith("Z") for r in output.records)
    newest = max([instant for instant in instants if instant >= STATE], default=STATE)
    assert final_state(output) == {"updated_at": newest.strftime("%Y-%m-%dT%H:%M:%SZ")}
