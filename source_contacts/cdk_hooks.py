"""The one place where source-contacts reaches past the CDK's public extension points.

airbyte-cdk 7.39.1 waits a fixed 5 s between export job polls, fails a job without naming its slice, retries a failing
window as it is however large, loops for ever on a job that timed out on its last attempt, and builds the
orchestrator that does all this inside ModelToComponentFactory.create_async_retriever, with no hook. The source's
factory itself is built inside ConcurrentDeclarativeSource.__init__, also with no hook. So:
- PollingJobOrchestrator overrides four private methods of AsyncJobOrchestrator;
- ContactsComponentFactory gives every AsyncRetriever that orchestrator, every requester the manifest's api_budget
  wrapped in a PausingApiBudget, and builds the per-record fast path of components/fast_path.py in place of the CDK's
  generic components (public factory methods, and the download retriever's selector, which create_async_retriever
  builds inside its job repository);
- use_contacts_component_factory() hands the factory to a source (one private attribute);
- BatchedRecordCountsInLog corrects the CDK's "Read N records" log line, which counts the items of its queue: batches,
  for a stream whose records cross it in RecordBatches.
unit_tests/test_cdk_hooks.py fails when any CDK internal named here changes.
"""

import logging
import re
import time
from datetime import timedelta
from typing import Any, Callable, Dict, Iterable, List, Optional, Set

from isodate import parse_duration

from airbyte_cdk.models import ConfiguredAirbyteCatalog, FailureType
from airbyte_cdk.sources.declarative.async_job.job_orchestrator import AsyncJobOrchestrator, AsyncPartition
from airbyte_cdk.sources.declarative.async_job.status import AsyncJobStatus
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.sources.declarative.extractors.record_selector import RecordSelector
from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.declarative.models.declarative_component_schema import SchemaNormalization
from airbyte_cdk.sources.declarative.parsers.model_to_component_factory import ModelToComponentFactory
from airbyte_cdk.sources.declarative.partition_routers.async_job_partition_router import AsyncJobPartitionRouter
from airbyte_cdk.sources.declarative.retrievers.async_retriever import AsyncRetriever
from airbyte_cdk.sources.declarative.retrievers.retriever import Retriever
from airbyte_cdk.sources.streams.concurrent.cursor import Cursor, FinalStateCursor
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.common import slice_location
from source_contacts.components.fast_path import (
    AdaptiveWindowCursor,
    BatchingAsyncRetriever,
    BatchingRetriever,
    DeferredObserveCursor,
    PlainRecordSelector,
    RecordBatches,
    WindowReportingRetriever,
)
from source_contacts.components.http_handling import PausingApiBudget

LOGGER = logging.getLogger("airbyte")
_FAILED = (AsyncJobStatus.FAILED, AsyncJobStatus.TIMED_OUT)


class PollingJobOrchestrator(AsyncJobOrchestrator):
    """AsyncJobOrchestrator that polls soon after a change and backs off while jobs keep running, that exports a
    failing window as two halves, and whose failure message names the stream and the failed slices.

    The wait is FIRST_WAIT after any change (a job started or finished) and doubles while nothing changes,
    up to MAX_WAIT. No wait when our last job just finished (the next one starts at once) nor at the end.
    `sleep` waits (time.sleep, looked up at each wait so that tests can stand in for it).
    `split` (optional) cuts a window in two halves, or returns None for a window too short to split: a window whose
    job failed SPLIT_AFTER_FAILURES times, or timed out, is then exported as its halves instead of being retried.
    """

    FIRST_WAIT_SECONDS = 0.2
    MAX_WAIT_SECONDS = 10.0
    SPLIT_AFTER_FAILURES = 2

    @classmethod
    def adopting(
        cls,
        built: AsyncJobOrchestrator,
        stream: str,
        sleep: Optional[Callable[[float], None]] = None,
        split: Optional[Callable[[StreamSlice], Optional[List[StreamSlice]]]] = None,
    ) -> "PollingJobOrchestrator":
        """This orchestrator with the state of the one the CDK built (its repository, slices, job tracker)."""
        orchestrator = cls.__new__(cls)
        orchestrator.__dict__.update(vars(built))
        orchestrator._stream = stream
        orchestrator._sleep = sleep
        orchestrator._split = split
        orchestrator._failed_job_ids: Dict[AsyncPartition, Set[str]] = {}
        orchestrator._polled_job_ids = frozenset()
        orchestrator._next_wait = cls.FIRST_WAIT_SECONDS
        orchestrator._failed_slices = []
        return orchestrator

    def _wait_on_status_update(self) -> None:
        running = frozenset(job.api_job_id() for job in self._get_running_jobs())
        if not running and not self._running_partitions and not self._slice_iterator.has_next():
            return  # the loop is about to end: nothing to wait for
        if running != self._polled_job_ids:
            self._polled_job_ids = running
            self._next_wait = self.FIRST_WAIT_SECONDS
            if not running:
                return  # our jobs just finished: start the next one at once
        (self._sleep or time.sleep)(self._next_wait)
        self._next_wait = min(self._next_wait * 2, self.MAX_WAIT_SECONDS)

    def _halves(self, partition: AsyncPartition) -> Optional[List[StreamSlice]]:
        """The two halves to export instead of `partition`'s window, when its job timed out or failed
        SPLIT_AFTER_FAILURES times and the window is longer than the split floor; else None."""
        timed_out = any(job.status() == AsyncJobStatus.TIMED_OUT for job in partition.jobs)
        if self._split and (timed_out or len(self._failed_job_ids.get(partition, ())) >= self.SPLIT_AFTER_FAILURES):
            return self._split(partition.stream_slice)
        return None

    def _replace_failed_jobs(self, partition: AsyncPartition) -> None:
        # Left to the partition processing: a job that timed out on its last attempt, which then fails naming its slice
        # (the CDK would raise "Max attempt reached" and loop on that for ever, never waiting), and a timed-out window
        # that is split there (the CDK would create it again whole: the timeout shows first here).
        if not partition.has_reached_max_attempt() and not self._halves(partition):
            super()._replace_failed_jobs(partition)

    def _reallocate_partition(self, current_running_partitions: List[AsyncPartition], partition: AsyncPartition) -> None:
        # Called for a failed or timed-out job that has attempts left: the CDK retries it as it is.
        failed = self._failed_job_ids.setdefault(partition, set())
        failed.update(job.api_job_id() for job in partition.jobs if job.status() in _FAILED)
        halves = self._halves(partition)
        if not halves:
            super()._reallocate_partition(current_running_partitions, partition)
            return
        del self._failed_job_ids[partition]
        for job in partition.jobs:
            self._job_tracker.remove_job(job.api_job_id())
        for half in halves:  # the iterator pops what was added from the end of its buffer: the first half goes first
            self._slice_iterator.add_at_the_beginning(half)
        why = f"failed {len(failed)} times" if len(failed) >= self.SPLIT_AFTER_FAILURES else "timed out"
        LOGGER.info(f"Stream {self._stream}: the export job for {slice_location(partition.stream_slice)} {why}; exporting it as two halves.")

    def _process_partitions_with_errors(self, partition: AsyncPartition) -> None:
        super()._process_partitions_with_errors(partition)
        attempts = self._job_max_retry or AsyncPartition._DEFAULT_MAX_JOB_RETRY
        statuses = ", ".join(sorted({job.status().name for job in partition.jobs}))
        self._failed_slices.append(f"slice {slice_location(partition.stream_slice)} (status {statuses} after {attempts} attempts)")

    def create_and_get_completed_partitions(self) -> Iterable[AsyncPartition]:
        try:
            yield from super().create_and_get_completed_partitions()
        except AirbyteTracedException as error:
            if not self._failed_slices or error.failure_type == FailureType.config_error:
                raise
            message = f"Stream {self._stream}: the export job failed for {'; '.join(self._failed_slices)}. Other slices were read."
            raise AirbyteTracedException(
                message=message, internal_message=error.internal_message, failure_type=FailureType.system_error
            ) from error


class ContactsComponentFactory(ModelToComponentFactory):
    """The CDK's component factory, building every AsyncRetriever with a PollingJobOrchestrator and the per-record
    fast path of components/fast_path.py where the manifest declares nothing it cannot do:
    - every DatetimeBasedCursor is a DeferredObserveCursor, or an AdaptiveWindowCursor when its $parameters
      declare `adaptive_windows` (its SimpleRetriever then reports each window through a WindowReportingRetriever);
    - a RecordSelector without transformations, schema normalization or file upload is a PlainRecordSelector, and so
      is the selector of every AsyncRetriever's download retriever;
    - an AsyncRetriever whose $parameters declare `split_failed_windows_down_to` (an ISO 8601 duration) exports a
      failing window as two halves, down to windows of that length;
    - a retriever whose $parameters declare `records_per_batch` hands its records to the main thread in batches of
      that many (RecordBatches), when the factory has `record_batches`;
    - the api_budget is a PausingApiBudget (a 429's Retry-After holds for every thread; no wait for budget over 10
      minutes).
    """

    def __init__(self, record_batches: Optional[RecordBatches] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._record_batches = record_batches

    def _records_per_batch(self, model: Any, name: str, cursor: Any) -> int:
        """The declared `records_per_batch` (0: none, or no record_batches); a cursor that cannot see batches fails."""
        size = int((model.parameters or {}).get("records_per_batch") or 0)
        if not size or self._record_batches is None:
            return 0
        if not isinstance(cursor, (DeferredObserveCursor, FinalStateCursor)):
            raise ValueError(f"Stream {name}: records_per_batch needs a DatetimeBasedCursor or no incremental_sync, not {type(cursor).__name__}")
        return size

    def create_concurrent_cursor_from_datetime_based_cursor(
        self, model_type: Any, component_definition: Any, stream_name: str, stream_namespace: Optional[str],
        stream_state: Any, config: Any, **kwargs: Any,
    ) -> Cursor:
        cursor = super().create_concurrent_cursor_from_datetime_based_cursor(
            model_type, component_definition, stream_name, stream_namespace, stream_state, config, **kwargs
        )
        model = model_type.parse_obj(component_definition)
        parameters = model.parameters or {}
        formats = [*(model.cursor_datetime_formats or []), model.datetime_format]
        windows = parameters.get("adaptive_windows")
        if not windows:
            return DeferredObserveCursor(cursor, formats)
        boundaries = [
            str(InterpolatedString.create(name, parameters=parameters).eval(config))
            for name in (model.partition_field_start or "start_time", model.partition_field_end or "end_time")
        ]
        step = parse_duration(str(InterpolatedString.create(model.step or "", parameters=parameters).eval(config)))
        return AdaptiveWindowCursor.declared(cursor, formats, boundaries, step, windows, config)

    def create_simple_retriever(self, model: Any, config: Any, **kwargs: Any) -> Retriever:
        retriever = super().create_simple_retriever(model, config, **kwargs)
        windows = kwargs.get("stream_slicer")
        if isinstance(windows, AdaptiveWindowCursor):
            retriever = WindowReportingRetriever(retriever, windows)
        size = self._records_per_batch(model, kwargs["name"], kwargs.get("cursor"))
        if size:
            return BatchingRetriever(retriever, self._record_batches, size, kwargs["name"])  # type: ignore[arg-type]
        return retriever

    def create_record_selector(self, model: Any, config: Any, **kwargs: Any) -> RecordSelector:
        selector = super().create_record_selector(model, config, **kwargs)
        if selector.transformations or selector.file_uploader or model.schema_normalization != SchemaNormalization.None_:
            return selector
        return PlainRecordSelector.replacing(selector, model.parameters or {})

    def create_http_api_budget(self, model: Any, config: Any, **kwargs: Any) -> PausingApiBudget:
        return PausingApiBudget(super().create_http_api_budget(model, config, **kwargs))

    def create_async_retriever(self, model: Any, config: Any, *, name: str, **kwargs: Any) -> AsyncRetriever:
        if isinstance(kwargs.get("stream_slicer"), AdaptiveWindowCursor):
            raise ValueError(f"Stream {name}: adaptive_windows are for paginated lists, not for an AsyncRetriever")
        retriever = super().create_async_retriever(model, config, name=name, **kwargs)
        jobs: AsyncJobPartitionRouter = retriever.stream_slicer  # type: ignore[assignment]
        build_cdk_orchestrator = jobs.job_orchestrator_factory
        # The CDK builds the download's selector (no filter, no transformation) itself: make it plain too.
        download = build_cdk_orchestrator([])._job_repository.download_retriever
        download.record_selector = PlainRecordSelector.replacing(download.record_selector, {})
        split = self._window_splitter(jobs.stream_slicer, (model.parameters or {}).get("split_failed_windows_down_to"))
        return BatchingAsyncRetriever(
            config=config,
            parameters=model.parameters or {},
            record_selector=retriever.record_selector,
            stream_slicer=AsyncJobPartitionRouter(
                config=config,
                parameters=model.parameters or {},
                stream_slicer=jobs.stream_slicer,
                job_orchestrator_factory=lambda slices: PollingJobOrchestrator.adopting(build_cdk_orchestrator(slices), name, split=split),
            ),
            batches=self._record_batches,
            records_per_batch=self._records_per_batch(model, name, kwargs.get("cursor")),
            stream_name=name,
        )

    @staticmethod
    def _window_splitter(cursor: Any, floor: Optional[str]) -> Optional[Callable[[StreamSlice], Optional[List[StreamSlice]]]]:
        """The cursor's split_request_window, refusing windows of `floor` or shorter; None when no floor is declared."""
        if not floor:
            return None
        shortest: timedelta = parse_duration(floor)
        return lambda window: cursor.split_request_window(window, shortest)


def use_contacts_component_factory(
    source: ConcurrentDeclarativeSource,
    catalog: Optional[ConfiguredAirbyteCatalog],
    max_concurrent_async_job_count: Optional[int],
    record_batches: Optional[RecordBatches] = None,
) -> None:
    """Replaces the factory the CDK built for `source` by a ContactsComponentFactory with the same message repository,
    state manager, catalog and job limit, and `record_batches`; call it right after ConcurrentDeclarativeSource.__init__."""
    source._constructor = ContactsComponentFactory(
        record_batches=record_batches,
        message_repository=source._constructor.get_message_repository(),
        connector_state_manager=source._connector_state_manager,
        configured_catalog=catalog,
        max_concurrent_async_job_count=max_concurrent_async_job_count,
    )


class BatchedRecordCountsInLog(logging.Filter):
    """On the source's logger: the CDK's "Read N records from S stream" line with the records `batches` unpacked for
    S, when S's records came in batches (the CDK counts the items of its queue)."""

    CDK_LINE = re.compile(r"Read (\d+) records from (.+) stream")

    def __init__(self, batches: RecordBatches) -> None:
        super().__init__()
        self._batches = batches

    def filter(self, record: logging.LogRecord) -> bool:
        line = self.CDK_LINE.fullmatch(str(record.msg)) if not record.args else None
        if line and line.group(2) in self._batches.records_read:
            record.msg = f"Read {self._batches.records_read[line.group(2)]} records from {line.group(2)} stream"
        return True
