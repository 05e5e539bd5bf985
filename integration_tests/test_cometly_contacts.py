"""cometly_contacts against the emulator (space time zone America/New_York): exact records, windows, incremental."""

from datetime import datetime, timedelta, timezone

from airbyte_cdk.models import SyncMode

from emulator import Emulator
from tests.support.builders import emitted_states, emulator_cometly_config, final_state, run_read, sorted_ids, state_for_next_read

STREAM = "cometly_contacts"


def _local_to_utc(emu: Emulator, value: str) -> datetime:
    return emu.data.cometly_to_utc(value)


def test_every_contact_once_through_tiled_windows_and_cursor_pages() -> None:
    with Emulator(sizes={"cometly_contacts": 10000}) as emu:
        output = run_read(emulator_cometly_config(emu, window_days=365, include_comet_tokens=True), STREAM)

        ids = [r.record.data["id"] for r in output.records]
        assert sorted(ids) == sorted(c["id"] for c in emu.data.cometly_contacts)
        assert all(isinstance(r.record.data["comet_tokens"], list) for r in output.records)
        first_pages = [r for r in emu.requests.matching("/public-api/v1/contacts") if "cursor" not in r.query]
        paged = [r for r in emu.requests.matching("/public-api/v1/contacts") if "cursor" in r.query]
        assert paged, "a 365-day window over 10000 contacts holds more than one page of 5000"
        assert all(r.query["per_page"] == "5000" and r.query["include_comet_tokens"] == "1" for r in first_pages + paged)
        # Windows tile with no gap and no overlap: each starts one second after the previous end, in space time.
        windows = sorted({(r.query["start_date"], r.query["end_date"]) for r in first_pages}, key=lambda w: _local_to_utc(emu, w[0]))
        assert _local_to_utc(emu, windows[0][0]) == datetime(2024, 1, 1, tzinfo=timezone.utc)
        for (_, end), (start, _) in zip(windows, windows[1:]):
            assert _local_to_utc(emu, start) - _local_to_utc(emu, end) == timedelta(seconds=1)


def test_incremental_second_read_returns_exactly_the_new_and_the_boundary(emulator: Emulator) -> None:
    config = emulator_cometly_config(emulator)
    first = run_read(config, STREAM, SyncMode.incremental)
    newest = max(c["created_at"] for c in emulator.data.cometly_contacts)
    assert final_state(first) == {"created_at": newest[:19] + "Z"}

    added = emulator.add_cometly_contacts(3)
    boundary = [c["id"] for c in emulator.data.cometly_contacts if c["created_at"][:19] == newest[:19]]
    second = run_read(config, STREAM, SyncMode.incremental, state=state_for_next_read(first))

    # Contacts in the saved second are read again (inclusive cursor); nothing else but the new ones.
    assert sorted_ids(second) == sorted({c["id"] for c in added} | set(boundary))
    assert final_state(second) == {"created_at": added[0]["created_at"][:19] + "Z"}


def test_windows_grow_while_sparse_tile_the_range_and_checkpoint_as_each_closes(emulator: Emulator, sync_started_at: datetime) -> None:
    output = run_read(emulator_cometly_config(emulator, window_days=1), STREAM, SyncMode.incremental)

    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert sorted_ids(output) == sorted(c["id"] for c in emulator.data.cometly_between(start, sync_started_at))
    # A few contacts a day, far from 50,000 a window: each window is four times the last, until the sync's start.
    calls = emulator.requests.matching("/public-api/v1/contacts")
    windows = [(_local_to_utc(emu=emulator, value=r.query["start_date"]), _local_to_utc(emu=emulator, value=r.query["end_date"])) for r in calls]
    day, second = timedelta(days=1), timedelta(seconds=1)
    starts = [start, start + day, start + 5 * day, start + 21 * day]
    assert windows == list(zip(starts, [s - second for s in starts[1:]] + [sync_started_at]))
    assert all("cursor" not in r.query for r in calls)  # one page each
    # A checkpoint as each day closes: at the newest contact of the window read so far, moving window by window.
    newest = [max(c["created_at"] for c in emulator.data.cometly_between(start, end))[:19] + "Z" for _, end in windows]
    states = emitted_states(output)
    assert [state for i, state in enumerate(states) if not i or state != states[i - 1]] == [{"created_at": value} for value in newest]
