"""cdk_hooks: the export poll schedule, the failed-job message (timed-out jobs too), and the CDK internals they rely on."""

import inspect
import logging
from dataclasses import fields
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, List, Mapping
from unittest.mock import MagicMock

import pytest

from airbyte_cdk.sources.concurrent_source.concurrent_read_processor import ConcurrentReadProcessor
from airbyte_cdk.sources.declarative.async_job.job import AsyncJob
from airbyte_cdk.sources.declarative.async_job.job_orchestrator import AsyncJobOrchestrator, AsyncPartition, LookaheadIterator
from airbyte_cdk.sources.declarative.async_job.job_tracker import JobTracker
from airbyte_cdk.sources.declarative.async_job.repository import AsyncJobRepository
from airbyte_cdk.sources.declarative.async_job.status import AsyncJobStatus
from airbyte_cdk.sources.declarative.async_job.timer import Timer
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.sources.declarative.extractors.record_selector import RecordSelector
from airbyte_cdk.sources.declarative.parsers.model_to_component_factory import ModelToComponentFactory
from airbyte_cdk.sources.declarative.partition_routers.async_job_partition_router import AsyncJobPartitionRouter
from airbyte_cdk.sources.declarative.requesters.http_job_repository import AsyncHttpJobRepository
from airbyte_cdk.sources.declarative.retrievers.async_retriever import AsyncRetriever
from airbyte_cdk.sources.streams.concurrent.cursor import ConcurrentCursor, CursorField
from airbyte_cdk.sources.streams.concurrent.state_converters.datetime_stream_state_converter import (
    CustomFormatConcurrentStreamStateConverter,
)
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts import SourceContacts
from source_contacts.cdk_hooks import BatchedRecordCountsInLog, ContactsComponentFactory, PollingJobOrchestrator
from source_contacts.components.fast_path import (
    AdaptiveWindowCursor,
    BatchingAsyncRetriever,
    BatchingRetriever,
    DeferredObserveCursor,
    PlainRecordSelector,
    RecordBatches,
    WindowReportingRetriever,
)

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


# ---- Failing windows exported as halves (split_failed_windows_down_to)


def window_cursor() -> ConcurrentCursor:
    """A Cometly-like window cursor (UTC, one-second granularity) whose split_request_window the orchestrator uses."""
    converter = CustomFormatConcurrentStreamStateConverter(datetime_format="%Y-%m-%dT%H:%M:%SZ", cursor_granularity=timedelta(seconds=1))
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    return ConcurrentCursor("cometly_contacts_export", None, {}, MagicMock(), MagicMock(), converter, CursorField("created_at"),
                            ("start_time", "end_time"), start, lambda: start, cursor_granularity=timedelta(seconds=1))


class WindowRepository(ScriptedRepository):
    """Each job answers the statuses `script(window)` gives for its window, one per poll; creations are kept."""

    def __init__(self, script: Callable[[dict], List[AsyncJobStatus]]) -> None:
        super().__init__([])
        self.window_script, self.created = script, []

    def start(self, stream_slice: StreamSlice) -> AsyncJob:
        self.created.append(dict(stream_slice.cursor_slice))
        return super().start(stream_slice)

    def update_jobs_status(self, jobs: Iterable[AsyncJob]) -> None:
        for job in jobs:
            n = self.polls[job.api_job_id()] = self.polls.get(job.api_job_id(), 0) + 1
            statuses = self.window_script(dict(job.job_parameters().cursor_slice))
            job.update_status(statuses[min(n, len(statuses)) - 1])


def split_run(repository: WindowRepository, window: dict) -> List[dict]:
    """Exports `window` with a one-day floor; the windows whose exports completed."""
    built = AsyncJobOrchestrator(repository, [StreamSlice(partition={}, cursor_slice=window)], JobTracker(5), MagicMock())
    split = ContactsComponentFactory._window_splitter(window_cursor(), "P1D")
    orchestrator = PollingJobOrchestrator.adopting(built, "cometly_contacts_export", sleep=lambda _: None, split=split)
    return [dict(partition.stream_slice.cursor_slice) for partition in orchestrator.create_and_get_completed_partitions()]


WHOLE = {"start_time": "2024-03-01T00:00:00Z", "end_time": "2024-03-04T23:59:59Z"}
FIRST_HALF = {"start_time": "2024-03-01T00:00:00Z", "end_time": "2024-03-02T23:59:59Z"}
SECOND_HALF = {"start_time": "2024-03-03T00:00:00Z", "end_time": "2024-03-04T23:59:59Z"}


def test_a_window_failing_twice_is_exported_as_two_halves_that_tile_it() -> None:
    repository = WindowRepository(lambda window: [FAILED] if window == WHOLE else [RUNNING, DONE])

    completed = split_run(repository, WHOLE)

    assert repository.created == [WHOLE, WHOLE, FIRST_HALF, SECOND_HALF]
    assert sorted(completed, key=lambda w: w["start_time"]) == [FIRST_HALF, SECOND_HALF]


def test_a_timed_out_job_is_split_at_once() -> None:
    repository = WindowRepository(lambda window: [AsyncJobStatus.TIMED_OUT] if window == WHOLE else [DONE])

    completed = split_run(repository, WHOLE)

    assert repository.created == [WHOLE, FIRST_HALF, SECOND_HALF]
    assert sorted(completed, key=lambda w: w["start_time"]) == [FIRST_HALF, SECOND_HALF]


def test_windows_keep_splitting_down_to_a_day_then_the_stream_fails_naming_each_day() -> None:
    repository = WindowRepository(lambda window: [FAILED])

    with pytest.raises(AirbyteTracedException) as error:
        split_run(repository, WHOLE)

    days = [{"start_time": f"2024-03-0{d}T00:00:00Z", "end_time": f"2024-03-0{d}T23:59:59Z"} for d in range(1, 5)]
    # Twice the 4-day window, twice each 2-day half, three times (the CDK's attempts) each day.
    assert sorted(repository.created, key=lambda w: (w["start_time"], w["end_time"])) == sorted(
        [WHOLE] * 2 + [FIRST_HALF] * 2 + [SECOND_HALF] * 2 + days * 3, key=lambda w: (w["start_time"], w["end_time"]))
    message = error.value.message
    prefix, suffix = "Stream cometly_contacts_export: the export job failed for ", ". Other slices were read."
    assert message.startswith(prefix) and message.endswith(suffix)
    named = message[len(prefix):-len(suffix)].split("; ")
    assert sorted(named) == sorted(f"slice {day} (status FAILED after 3 attempts)" for day in days)


def test_without_a_split_floor_a_failing_window_is_retried_whole() -> None:
    repository = WindowRepository(lambda window: [FAILED])
    built = AsyncJobOrchestrator(repository, [StreamSlice(partition={}, cursor_slice=WHOLE)], JobTracker(5), MagicMock())
    orchestrator = PollingJobOrchestrator.adopting(built, "cc_contacts_export", sleep=lambda _: None)

    with pytest.raises(AirbyteTracedException):
        list(orchestrator.create_and_get_completed_partitions())

    assert repository.created == [WHOLE] * 3


# ---- ContactsComponentFactory builds the fast path and the adaptive windows where the manifest asks for them

CONFIG = {"constant_contact": {"credentials": {"auth_type": "access_token", "access_token": "t"}},
          "constant_contact_v2": {"api_key": "k", "access_token": "t", "list_ids": ["1"]},
          "cometly": {"api_key": "k"}}


def built_streams() -> dict:
    return {stream.name: stream for stream in SourceContacts(config=CONFIG).streams(CONFIG)}


def test_every_datetime_cursor_observes_per_partition_and_cometly_contacts_has_adaptive_windows() -> None:
    streams = built_streams()
    windows = streams["cometly_contacts"].cursor
    assert type(windows) is AdaptiveWindowCursor and windows.is_reported
    retriever = streams["cometly_contacts"]._stream_partition_generator._partition_factory._retriever
    assert type(retriever._retriever) is WindowReportingRetriever  # inside the BatchingRetriever
    for name in ("cc_contact_lists", "cc_contacts", "cc_contacts_export", "cc_v2_lists", "cometly_contacts_export"):
        assert type(streams[name].cursor) is DeferredObserveCursor, name
    # Per-partition state: the CDK's cursor, whose cursor per list is a DeferredObserveCursor.
    assert type(streams["cc_v2_list_contacts"].cursor._cursor_factory.create({}, None)) is DeferredObserveCursor


def test_the_big_streams_hand_their_records_over_in_batches_of_500_and_the_others_one_by_one() -> None:
    streams = built_streams()

    def retriever(name: str) -> Any:
        return streams[name]._stream_partition_generator._partition_factory._retriever

    for name in ("cc_contacts", "cometly_contacts"):
        assert type(retriever(name)) is BatchingRetriever and retriever(name)._size == 500, name
    for name in ("cc_contacts_export", "cc_v2_contacts_export", "cometly_contacts_export"):
        assert type(retriever(name)) is BatchingAsyncRetriever and retriever(name).records_per_batch == 500, name
    for name in ("cc_contact_lists", "cc_v2_lists", "cc_v2_list_contacts", "cc_segments"):
        assert not isinstance(retriever(name), BatchingRetriever) and getattr(retriever(name), "records_per_batch", 0) == 0, name


def test_records_per_batch_on_a_stream_whose_cursor_cannot_see_batches_fails_at_build() -> None:
    factory = ContactsComponentFactory(record_batches=RecordBatches())
    model = MagicMock(parameters={"records_per_batch": 500})
    per_list = built_streams()["cc_v2_list_contacts"].cursor  # the CDK's per-partition cursor
    with pytest.raises(ValueError, match="Stream cc_v2_list_contacts: records_per_batch needs a DatetimeBasedCursor"):
        factory._records_per_batch(model, "cc_v2_list_contacts", per_list)
    assert ContactsComponentFactory()._records_per_batch(model, "cc_v2_list_contacts", per_list) == 0  # no record_batches


def test_the_cdk_still_logs_the_count_of_its_queue_items_in_the_line_batched_record_counts_correct() -> None:
    done = inspect.getsource(ConcurrentReadProcessor._on_stream_is_done)
    assert 'f"Read {self._record_counter[stream_name]} records from {stream_name} stream"' in done
    assert "self._record_counter[stream.name] += 1" in inspect.getsource(ConcurrentReadProcessor.on_record)
    batches = RecordBatches()
    batches.records_read = {"cometly_contacts": 1234}
    counts = BatchedRecordCountsInLog(batches)
    for stream, logged, expected in (("cometly_contacts", 3, 1234), ("cc_segments", 7, 7)):
        record = logging.LogRecord("airbyte", logging.INFO, __file__, 1, f"Read {logged} records from {stream} stream", None, None)
        assert counts.filter(record) and record.getMessage() == f"Read {expected} records from {stream} stream"


def test_selectors_without_transformations_are_plain_and_the_others_the_cdks() -> None:
    streams = built_streams()

    def selector(name: str) -> RecordSelector:
        return streams[name]._stream_partition_generator._partition_factory._retriever.record_selector

    for name in ("cc_contacts", "cometly_contacts", "cometly_contacts_export", "cc_contacts_export", "cc_v2_contacts_export"):
        assert type(selector(name)) is PlainRecordSelector, name
    assert type(selector("cc_v2_list_contacts")) is RecordSelector  # AddFields transformations
    for name in ("cometly_contacts_export", "cc_contacts_export", "cc_v2_contacts_export"):
        jobs = streams[name]._stream_partition_generator._partition_factory._retriever.stream_slicer
        assert type(jobs._job_orchestrator_factory([])._job_repository.download_retriever.record_selector) is PlainRecordSelector, name


def test_only_the_cometly_export_splits_failing_windows() -> None:
    streams = built_streams()
    for name, splits in (("cometly_contacts_export", True), ("cc_contacts_export", False), ("cc_v2_contacts_export", False)):
        jobs = streams[name]._stream_partition_generator._partition_factory._retriever.stream_slicer
        assert (jobs._job_orchestrator_factory([])._split is not None) is splits, name


def test_the_cdk_still_calls_reallocate_partition_for_failed_jobs_with_attempts_left_and_pops_added_slices_first() -> None:
    processing = inspect.getsource(AsyncJobOrchestrator._process_running_partitions_and_yield_completed_ones)
    assert "case _ if partition.has_reached_max_attempt():" in processing
    assert "self._reallocate_partition(current_running_partitions, partition)" in processing
    assert "self._job_tracker.remove_job(" in inspect.getsource(AsyncJobOrchestrator._process_completed_partition)
    lookahead = LookaheadIterator(iter(["later"]))
    lookahead.add_at_the_beginning("first half")
    lookahead.add_at_the_beginning("second half")
    assert list(lookahead) == ["first half", "second half", "later"]
    assert list(inspect.signature(ConcurrentCursor.split_request_window).parameters) == ["self", "stream_slice", "min_split_window"]


def test_the_cdk_still_builds_cursors_retrievers_and_selectors_through_the_factory_methods_we_extend() -> None:
    assert list(inspect.signature(ModelToComponentFactory.create_concurrent_cursor_from_datetime_based_cursor).parameters)[:7] == [
        "self", "model_type", "component_definition", "stream_name", "stream_namespace", "stream_state", "config"]
    default_stream = inspect.getsource(ModelToComponentFactory.create_default_stream)
    # The stream's cursor slices its partitions and is handed to the retriever as its stream_slicer.
    assert "stream_slicer=stream_slicer," in default_stream and "else concurrent_cursor" in default_stream
    per_partition = inspect.getsource(ModelToComponentFactory.create_concurrent_cursor_from_perpartition_cursor)
    assert "self.create_concurrent_cursor_from_datetime_based_cursor," in per_partition
    assert "name" in inspect.signature(ModelToComponentFactory.create_record_selector).parameters
    async_retriever = inspect.getsource(ModelToComponentFactory.create_async_retriever)
    # The download's selector: built in create_async_retriever, kept by the job repository the orchestrator holds.
    for built_plain in ("record_selector = RecordSelector(", "record_filter=None,", "transformations=[],",
                        "schema_normalization=TypeTransformer(TransformConfig.NoTransform),"):
        assert built_plain in async_retriever, built_plain
    assert "self._job_repository: AsyncJobRepository = job_repository" in inspect.getsource(AsyncJobOrchestrator.__init__)
    assert "download_retriever" in {f.name for f in fields(AsyncHttpJobRepository)}
