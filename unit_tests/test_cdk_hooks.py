"""cdk_hooks: the export poll schedule, the failed-job message (timed-out jobs too), and the CDK internals they rely on."""

import inspect
from dataclasses import fields
from datetime import datetime, timedelta, timezone
from typing import Iterable, List, Mapping
from unittest.mock import MagicMock

import pytest

from airbyte_cdk.sources.declarative.async_job.job import AsyncJob
from airbyte_cdk.sources.declarative.async_job.job_orchestrator import AsyncJobOrchestrator, AsyncPartition
from airbyte_cdk.sources.declarative.async_job.job_tracker import JobTracker
from airbyte_cdk.sources.declarative.async_job.repository import AsyncJobRepository
from airbyte_cdk.sources.declarative.async_job.status import AsyncJobStatus
from airbyte_cdk.sources.declarative.async_job.timer import Timer
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.sources.declarative.parsers.model_to_component_factory import ModelToComponentFactory
from airbyte_cdk.sources.declarative.partition_routers.async_job_partition_router import AsyncJobPartitionRouter
from airbyte_cdk.sources.declarative.retrievers.async_retriever import AsyncRetriever
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts import SourceContacts
from source_contacts.cdk_hooks import ContactsComponentFactory, PollingJobOrchestrator

RUNNING, DONE, FAILED = AsyncJobStatus.RUNNING, AsyncJobStatus.COMPLETED, AsyncJobStatus.FAILED


class ScriptedRepository(AsyncJobRepository):
    """Each job answers the next status of `script` at each poll."""

    def __init__(self, script: List[AsyncJobStatus]) -> None:
        self.script, self.polls, self.started = script, {}, 0

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
    waits: List[float] = []
    built = AsyncJobOrchestrator(repository, slices, JobTracker(1), MagicMock())
    orchestrator = PollingJobOrchestrator.adopting(built, "cometly_contacts_export", sleep=waits.append)
    return list(orchestrator.create_and_get_completed_partitions()), waits


def test_polls_soon_then_backs_off_and_does_not_wait_after_the_last_job() -> None:
    partitions, waits = run(ScriptedRepository([RUNNING] * 5 + [DONE]), [window("2024-01-01T00:00:00Z")])

    assert len(partitions) == 1
    assert waits == [0.2, 0.4, 0.8, 1.6, 3.2]


def test_the_wait_restarts_short_for_each_new_job_and_is_capped() -> None:
    slices = [window("2024-01-01T00:00:00Z"), window("2024-01-02T00:00:00Z")]
    partitions, waits = run(ScriptedRepository([RUNNING] * 8 + [DONE]), slices)

    assert len(partitions) == 2
    first_job = [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0]
    # No wait between the first job's end and the second's start; the second starts short again.
    assert waits == first_job + first_job


def test_a_slice_failing_every_attempt_fails_naming_stream_and_slice() -> None:
    repository = ScriptedRepository([FAILED])
    with pytest.raises(AirbyteTracedException) as error:
        run(repository, [window("2024-01-01T00:00:00Z")])

    assert repository.started == 3
    assert error.value.message == (
        "Stream cometly_contacts_export: the export job failed for slice "
        "{'start_time': '2024-01-01T00:00:00Z', 'end_time': '2024-01-01T23:59:59Z'} (status FAILED after 3 attempts). "
        "Other slices were read."
    )


class TimingOutRepository(ScriptedRepository):
    """Jobs that run for ever and time out after `timeout` on the jobs' clock."""

    def __init__(self, timeout: timedelta) -> None:
        super().__init__([RUNNING])
        self.timeout = timeout

    def start(self, stream_slice: StreamSlice) -> AsyncJob:
        self.started += 1
        return AsyncJob(f"job-{self.started}", stream_slice, timeout=self.timeout)


@pytest.mark.timeout(60)
def test_a_slice_whose_last_attempt_times_out_fails_naming_it_instead_of_looping(monkeypatch: pytest.MonkeyPatch) -> None:
    # The jobs' clock moves only while the orchestrator waits, so each timeout is seen after a wait, as in a real sync.
    now = [datetime(2024, 1, 1, tzinfo=timezone.utc)]
    monkeypatch.setattr(Timer, "_now", staticmethod(lambda: now[0]))
    repository = TimingOutRepository(timedelta(minutes=30))
    built = AsyncJobOrchestrator(repository, [window("2024-01-01T00:00:00Z")], JobTracker(1), MagicMock())

    def wait(seconds: float) -> None:
        now[0] += timedelta(seconds=seconds)

    orchestrator = PollingJobOrchestrator.adopting(built, "cometly_contacts_export", sleep=wait)
    with pytest.raises(AirbyteTracedException) as error:
        list(orchestrator.create_and_get_completed_partitions())

    assert repository.started == 3
    assert error.value.message == (
        "Stream cometly_contacts_export: the export job failed for slice "
        "{'start_time': '2024-01-01T00:00:00Z', 'end_time': '2024-01-01T23:59:59Z'} (status TIMED_OUT after 3 attempts). "
        "Other slices were read."
    )
    assert timedelta(minutes=90) <= now[0] - datetime(2024, 1, 1, tzinfo=timezone.utc) < timedelta(minutes=91)


@pytest.mark.parametrize("stream", ["cc_contacts_export", "cc_v2_contacts_export", "cometly_contacts_export"])
def test_every_export_stream_gets_the_polling_orchestrator(stream: str) -> None:
    config = {"constant_contact": {"credentials": {"auth_type": "access_token", "access_token": "t"}},
              "constant_contact_v2": {"api_key": "k", "access_token": "t", "list_ids": ["1"]},
              "cometly": {"api_key": "k"}}
    source = SourceContacts(config=config)
    assert isinstance(source._constructor, ContactsComponentFactory)
    [built] = [s for s in source.streams(config) if s.name == stream]
    retriever = built._stream_partition_generator._partition_factory._retriever
    jobs = retriever.stream_slicer
    orchestrator = jobs._job_orchestrator_factory([])
    assert type(orchestrator) is PollingJobOrchestrator and orchestrator._stream == stream


# ---- The CDK internals cdk_hooks relies on: each assertion names what to revisit when it fails.

def test_the_cdk_orchestrator_still_waits_in_wait_on_status_update_and_reports_failures_in_process_partitions_with_errors() -> None:
    loop = inspect.getsource(AsyncJobOrchestrator.create_and_get_completed_partitions)
    assert "self._wait_on_status_update()" in loop
    processing = inspect.getsource(AsyncJobOrchestrator._process_running_partitions_and_yield_completed_ones)
    assert "self._process_partitions_with_errors(partition)" in processing
    for name in ("_get_running_jobs", "_running_partitions", "_slice_iterator", "_job_max_retry"):
        assert name in inspect.getsource(AsyncJobOrchestrator), name
    # _replace_failed_jobs replaces a job that timed out with AsyncPartition.replace_job, which refuses one at its last attempt.
    assert "partition.replace_job(job, [new_job])" in inspect.getsource(AsyncJobOrchestrator._replace_failed_jobs)
    assert "Max attempt reached" in inspect.getsource(AsyncPartition.replace_job)


def test_the_cdk_still_builds_the_orchestrator_in_create_async_retriever_from_public_fields() -> None:
    assert "job_orchestrator_factory=lambda stream_slices: AsyncJobOrchestrator(" in inspect.getsource(
        ModelToComponentFactory.create_async_retriever
    )
    assert {f.name for f in fields(AsyncRetriever)} == {"config", "record_selector", "stream_slicer", "slice_logger"}
    assert {f.name for f in fields(AsyncJobPartitionRouter)} == {"config", "job_orchestrator_factory", "stream_slicer"}


def test_the_cdk_source_still_builds_its_factory_with_the_arguments_we_pass_again() -> None:
    init = inspect.getsource(ConcurrentDeclarativeSource.__init__)
    factory_call = init[init.index("component_factory = ModelToComponentFactory(") : init.index("self._should_normalize")]
    passed = {line.strip().split("=")[0] for line in factory_call.splitlines()[1:] if "=" in line}
    # We pass message_repository, connector_state_manager, configured_catalog and max_concurrent_async_job_count
    # again; the rest only matter to the Connector Builder's test reads.
    assert passed == {"custom_components_trusted", "emit_connector_builder_messages", "message_repository",
                      "configured_catalog", "connector_state_manager", "max_concurrent_async_job_count",
                      "limit_pages_fetched_per_slice", "limit_slices_fetched", "disable_retries", "disable_cache"}
    assert "self._constructor = (" in init and "self._connector_state_manager = ConnectorStateManager(" in init
