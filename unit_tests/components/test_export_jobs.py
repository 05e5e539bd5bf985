"""components/export_jobs.py: the poll schedule, failing windows split in two, bounded attempts (a last attempt that
times out too) and failures that name the stream and slice, by the orchestrator's behaviour on scripted jobs."""

from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, List, Mapping
from unittest.mock import MagicMock

import pytest

from airbyte_cdk.sources.declarative.async_job.job import AsyncJob
from airbyte_cdk.sources.declarative.async_job.job_tracker import JobTracker
from airbyte_cdk.sources.declarative.async_job.repository import AsyncJobRepository
from airbyte_cdk.sources.declarative.async_job.status import AsyncJobStatus
from airbyte_cdk.sources.streams.concurrent.cursor import ConcurrentCursor, CursorField
from airbyte_cdk.sources.streams.concurrent.state_converters.datetime_stream_state_converter import (
    CustomFormatConcurrentStreamStateConverter,
)
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.export_jobs import ExportJobOrchestrator, ExportJobRetriever, UnlistedStatusesFail
from tests.support.fixtures import SleepRecorder

RUNNING, DONE, FAILED, TIMED_OUT = AsyncJobStatus.RUNNING, AsyncJobStatus.COMPLETED, AsyncJobStatus.FAILED, AsyncJobStatus.TIMED_OUT
STREAM = "cometly_contacts_export"


class ScriptedJobs(AsyncJobRepository):
    """Each job answers the statuses `script(window)` gives for its window, one per poll; creations are kept."""

    def __init__(self, script: Callable[[dict], List[AsyncJobStatus]], timeout: timedelta = timedelta(hours=1)) -> None:
        self.script, self.timeout, self.polls, self.created = script, timeout, {}, []

    def start(self, stream_slice: StreamSlice) -> AsyncJob:
        self.created.append(dict(stream_slice.cursor_slice))
        return AsyncJob(f"job-{len(self.created)}", stream_slice, timeout=self.timeout)

    def update_jobs_status(self, jobs: Iterable[AsyncJob]) -> None:
        for job in jobs:
            n = self.polls[job.api_job_id()] = self.polls.get(job.api_job_id(), 0) + 1
            statuses = self.script(dict(job.job_parameters().cursor_slice))
            job.update_status(statuses[min(n, len(statuses)) - 1])

    def fetch_records(self, job: AsyncJob) -> Iterable[Mapping]:
        return []

    def abort(self, job: AsyncJob) -> None:
        pass

    def delete(self, job: AsyncJob) -> None:
        pass


def day(d: int) -> dict:
    return {"start_time": f"2024-03-0{d}T00:00:00Z", "end_time": f"2024-03-0{d}T23:59:59Z"}


WHOLE = {"start_time": "2024-03-01T00:00:00Z", "end_time": "2024-03-04T23:59:59Z"}
FIRST_HALF = {"start_time": "2024-03-01T00:00:00Z", "end_time": "2024-03-02T23:59:59Z"}
SECOND_HALF = {"start_time": "2024-03-03T00:00:00Z", "end_time": "2024-03-04T23:59:59Z"}


def window_cursor() -> ConcurrentCursor:
    """A Cometly-like window cursor (UTC, one-second granularity), whose split_request_window cuts the halves."""
    converter = CustomFormatConcurrentStreamStateConverter(datetime_format="%Y-%m-%dT%H:%M:%SZ", cursor_granularity=timedelta(seconds=1))
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    return ConcurrentCursor(STREAM, None, {}, MagicMock(), MagicMock(), converter, CursorField("created_at"),
                            ("start_time", "end_time"), start, lambda: start, cursor_granularity=timedelta(seconds=1))


def export(jobs: ScriptedJobs, windows: List[dict], split: bool = False) -> List[dict]:
    """Runs the jobs of `windows` (split down to a day when `split`); the windows whose exports completed, in order."""
    splitter = ExportJobRetriever._splitter(window_cursor(), timedelta(days=1)) if split else None
    slices = [StreamSlice(partition={}, cursor_slice=w) for w in windows]
    orchestrator = ExportJobOrchestrator(jobs, slices, JobTracker(5), stream=STREAM, attempts=3, split=splitter)
    return [dict(partition.stream_slice.cursor_slice) for partition in orchestrator.create_and_get_completed_partitions()]


def test_polls_soon_then_backs_off_and_does_not_wait_after_the_last_job(sleeps: SleepRecorder) -> None:
    assert export(ScriptedJobs(lambda w: [RUNNING] * 5 + [DONE]), [day(1)]) == [day(1)]
    assert sleeps.waits == [0.2, 0.4, 0.8, 1.6, 3.2]


def test_the_wait_restarts_short_for_each_new_job_and_is_capped(sleeps: SleepRecorder) -> None:
    orchestrator_jobs = ScriptedJobs(lambda w: [RUNNING] * 8 + [DONE])
    orchestrator = ExportJobOrchestrator(orchestrator_jobs, [StreamSlice(partition={}, cursor_slice=day(d)) for d in (1, 2)],
                                         JobTracker(1), stream=STREAM, attempts=3)
    assert len(list(orchestrator.create_and_get_completed_partitions())) == 2
    first_job = [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0]
    # No wait between the first job's end and the second's start; the second starts short again.
    assert sleeps.waits == first_job + first_job


def test_a_slice_failing_every_attempt_fails_naming_stream_and_slice() -> None:
    jobs = ScriptedJobs(lambda w: [FAILED])
    with pytest.raises(AirbyteTracedException) as error:
        export(jobs, [day(1)])

    assert jobs.created == [day(1)] * 3
    assert error.value.message == (
        f"Stream {STREAM}: the export job failed for slice {day(1)} (status FAILED after 3 attempts). Other slices were read."
    )


@pytest.mark.timeout(60)
def test_a_slice_whose_last_attempt_times_out_fails_naming_it_instead_of_looping() -> None:
    # Jobs that run for ever time out after 50 ms of real time; the recorded waits let the loop spin until then.
    jobs = ScriptedJobs(lambda w: [RUNNING], timeout=timedelta(milliseconds=50))
    with pytest.raises(AirbyteTracedException) as error:
        export(jobs, [day(1)])

    assert jobs.created == [day(1)] * 3
    assert error.value.message == (
        f"Stream {STREAM}: the export job failed for slice {day(1)} (status TIMED_OUT after 3 attempts). Other slices were read."
    )


def test_a_window_failing_twice_is_exported_as_two_halves_that_tile_it() -> None:
    jobs = ScriptedJobs(lambda w: [FAILED] if w == WHOLE else [RUNNING, DONE])
    completed = export(jobs, [WHOLE], split=True)
    assert jobs.created == [WHOLE, WHOLE, FIRST_HALF, SECOND_HALF]
    assert sorted(completed, key=lambda w: w["start_time"]) == [FIRST_HALF, SECOND_HALF]


def test_a_timed_out_job_is_split_at_once() -> None:
    jobs = ScriptedJobs(lambda w: [TIMED_OUT] if w == WHOLE else [DONE])
    completed = export(jobs, [WHOLE], split=True)
    assert jobs.created == [WHOLE, FIRST_HALF, SECOND_HALF]
    assert sorted(completed, key=lambda w: w["start_time"]) == [FIRST_HALF, SECOND_HALF]


def test_windows_keep_splitting_down_to_a_day_then_the_stream_fails_naming_each_day() -> None:
    jobs = ScriptedJobs(lambda w: [FAILED])
    with pytest.raises(AirbyteTracedException) as error:
        export(jobs, [WHOLE], split=True)

    days = [day(d) for d in range(1, 5)]
    by_time = lambda w: (w["start_time"], w["end_time"])  # noqa: E731
    # Twice the 4-day window, twice each 2-day half, three times each day.
    assert sorted(jobs.created, key=by_time) == sorted([WHOLE] * 2 + [FIRST_HALF] * 2 + [SECOND_HALF] * 2 + days * 3, key=by_time)
    prefix, suffix = f"Stream {STREAM}: the export job failed for ", ". Other slices were read."
    message = error.value.message
    assert message.startswith(prefix) and message.endswith(suffix)
    assert sorted(message[len(prefix):-len(suffix)].split("; ")) == sorted(f"slice {d} (status FAILED after 3 attempts)" for d in days)


def test_without_a_split_floor_a_failing_window_is_retried_whole() -> None:
    jobs = ScriptedJobs(lambda w: [FAILED])
    with pytest.raises(AirbyteTracedException):
        export(jobs, [WHOLE])
    assert jobs.created == [WHOLE] * 3


def test_a_status_the_docs_do_not_list_fails_the_job() -> None:
    statuses = UnlistedStatusesFail({"running": ["queued", "processing"], "completed": ["completed"], "failed": ["failed"]}, STREAM)
    assert [statuses.get(s) for s in ("queued", "completed", "failed", "cancelled", "expired")] == [RUNNING, DONE, FAILED, FAILED, FAILED]


def test_statuses_of_an_unknown_kind_fail_at_start_up() -> None:
    with pytest.raises(ValueError, match="statuses takes"):
        ExportJobRetriever(config={}, parameters={}, record_selector=MagicMock(), stream_slicer=MagicMock(), name=STREAM,
                           statuses={"runing": ["queued"], "completed": ["completed"]})
