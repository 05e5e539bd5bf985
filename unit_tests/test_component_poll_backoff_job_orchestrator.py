"""PollBackoffJobOrchestrator: polls soon then backs off, never waits when done, names the failed slice."""

from typing import Iterable, List, Mapping
from unittest.mock import MagicMock, patch

import pytest

from airbyte_cdk.sources.declarative.async_job.job import AsyncJob
from airbyte_cdk.sources.declarative.async_job.job_tracker import JobTracker
from airbyte_cdk.sources.declarative.async_job.repository import AsyncJobRepository
from airbyte_cdk.sources.declarative.async_job.status import AsyncJobStatus
from airbyte_cdk.sources.declarative.parsers import model_to_component_factory
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.poll_backoff_job_orchestrator import PollBackoffJobOrchestrator


class ScriptedRepository(AsyncJobRepository):
    """Each job answers the next status of `script` at each poll."""

    def __init__(self, script: List[AsyncJobStatus]) -> None:
        self.script, self.polls, self.started = script, {}, 0
        self.download_retriever = MagicMock()
        self.download_retriever.name = "cometly_contacts_export"

    def start(self, stream_slice: StreamSlice) -> AsyncJob:
        self.started += 1
        return AsyncJob(f"job-{self.started}", stream_slice)

    def update_jobs_status(self, jobs: Iterable[AsyncJob]) -> None:
        for job in jobs:
            n = self.polls[job.api_job_id()] = self.polls.get(job.api_job_id(), 0) + 1
            job.update_status(self.script[min(n, len(self.script)) - 1])

    def fetch_records(self, job: AsyncJob) -> Iterable[Mapping]:
        return []

    def abort(self, job: AsyncJob) -> None:
        pass

    def delete(self, job: AsyncJob) -> None:
        pass


def window(start: str) -> StreamSlice:
    return StreamSlice(partition={}, cursor_slice={"start_time": start, "end_time": start[:10] + "T23:59:59Z"})


def run(repository: ScriptedRepository, slices: List[StreamSlice]) -> tuple:
    orchestrator = PollBackoffJobOrchestrator(repository, slices, JobTracker(1), MagicMock())
    with patch("source_contacts.components.poll_backoff_job_orchestrator.time.sleep") as sleep:
        partitions = list(orchestrator.create_and_get_completed_partitions())
    return partitions, [c.args[0] for c in sleep.call_args_list]


def test_polls_soon_then_backs_off_and_does_not_wait_after_the_last_job() -> None:
    running, done = AsyncJobStatus.RUNNING, AsyncJobStatus.COMPLETED
    partitions, waits = run(ScriptedRepository([running] * 5 + [done]), [window("2024-01-01T00:00:00Z")])

    assert len(partitions) == 1
    assert waits == [0.2, 0.4, 0.8, 1.6, 3.2]


def test_the_wait_restarts_short_for_each_new_job_and_is_capped() -> None:
    running, done = AsyncJobStatus.RUNNING, AsyncJobStatus.COMPLETED
    slices = [window("2024-01-01T00:00:00Z"), window("2024-01-02T00:00:00Z")]
    partitions, waits = run(ScriptedRepository([running] * 8 + [done]), slices)

    assert len(partitions) == 2
    first_job = [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0]
    # No wait between the first job's end and the second's start; the second starts short again.
    assert waits == first_job + first_job


def test_a_slice_failing_every_attempt_fails_naming_stream_and_slice() -> None:
    repository = ScriptedRepository([AsyncJobStatus.FAILED])
    with pytest.raises(AirbyteTracedException) as error:
        run(repository, [window("2024-01-01T00:00:00Z")])

    assert repository.started == 3
    assert error.value.message == (
        "Stream cometly_contacts_export: the export job failed for slice "
        "{'start_time': '2024-01-01T00:00:00Z', 'end_time': '2024-01-01T23:59:59Z'} (status FAILED after 3 attempts). "
        "Other slices were read."
    )


def test_install_makes_the_factory_build_this_orchestrator() -> None:
    PollBackoffJobOrchestrator.install()
    assert model_to_component_factory.AsyncJobOrchestrator is PollBackoffJobOrchestrator
