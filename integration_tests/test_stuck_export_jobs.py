"""An export job that never finishes: abandoned after the 30-minute polling timeout, created again, and after 3 attempts
the stream fails naming the list (a Cometly window is exported as two halves instead). The jobs' clock follows the recorded waits, so this takes seconds."""

import json
from datetime import datetime, timezone

import pytest

from airbyte_cdk.sources.declarative.async_job.timer import Timer

from emulator import Emulator
from tests.support.builders import emulator_cometly_config, emulator_v2_config, run_read, stream_error
from tests.support.fixtures import SleepRecorder


@pytest.fixture
def job_clock_follows_the_waits(monkeypatch: pytest.MonkeyPatch, sleeps: SleepRecorder) -> None:
    monkeypatch.setattr(Timer, "_now", staticmethod(lambda: datetime.fromtimestamp(sleeps.clock(), timezone.utc)))


@pytest.mark.usefixtures("job_clock_follows_the_waits")
def test_a_v2_export_job_that_never_finishes_fails_the_stream_naming_the_list(emulator: Emulator, sleeps: SleepRecorder) -> None:
    emulator.faults.stick_next_jobs("cc_v2", 3)

    output = run_read(emulator_v2_config(emulator, list_ids=["4"]), "cc_v2_contacts_export", expecting_exception=True)

    assert output.records == []
    assert stream_error(output, "cc_v2_contacts_export") == (
        "Stream cc_v2_contacts_export: the export job failed for slice {'list_id': '4'} (status TIMED_OUT after 3 attempts). "
        "Other slices were read."
    )
    jobs = emulator.jobs.all("cc_v2")
    assert len(jobs) == 3 and {job.phase for job in jobs} == {"processing"}
    # Each job was polled through its 30 minutes, at most 10 s apart (some 180 polls), then given up.
    assert max(sleeps.waits) == 10 and min(job.polls for job in jobs) > 150


@pytest.mark.usefixtures("job_clock_follows_the_waits")
def test_a_cometly_window_whose_job_never_finishes_is_exported_as_two_halves_and_nothing_is_lost(emulator: Emulator) -> None:
    emulator.faults.stick_next_jobs("cometly", 1)
    config = emulator_cometly_config(emulator, export_window_days=365)

    output = run_read(config, "cometly_contacts_export")

    assert output.errors == []
    everything = emulator.data.cometly_between(datetime(2024, 1, 1, tzinfo=timezone.utc), datetime.now(timezone.utc))
    assert sorted(r.record.data["id"] for r in output.records) == sorted(c["id"] for c in everything)
    windows = [(body["start_date"], body["end_date"]) for body in map(json.loads, (r.body for r in emulator.requests.matching("/contacts/exports", method="POST")))]
    stuck = windows[0]
    first_half, second_half = [window for window in windows[1:] if window[0] == stuck[0] or window[1] == stuck[1]]
    assert (first_half[0], second_half[1]) == stuck and first_half[1] < second_half[0]
    assert [job.phase for job in emulator.jobs.all("cometly")].count("processing") == 1
