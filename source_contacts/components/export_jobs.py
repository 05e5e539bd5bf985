"""Export jobs: created, polled soon and then less often, a failing window split in two, and failures that name
their slice.

airbyte-cdk 7.39.1 builds an AsyncRetriever's job orchestrator inside ModelToComponentFactory.create_async_retriever,
with no hook: it polls every 5 s, retries a failing window as it is however large, loops for ever (never waiting) on
a job that timed out on its last attempt, and fails without naming the slice. ExportJobRetriever is declared in the
manifest in its place (`type: CustomRetriever`) and builds the same parts from the CDK's public classes, with an
ExportJobOrchestrator: the one class of the connector that overrides private CDK methods. The upstream change that
would remove both is written down in docs/integrations/sources/contacts.md ("Export jobs and the CDK").
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Set
from zoneinfo import ZoneInfo

from isodate import parse_duration

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.async_job.job_orchestrator import AsyncJobOrchestrator, AsyncPartition
from airbyte_cdk.sources.declarative.async_job.job_tracker import JobTracker
from airbyte_cdk.sources.declarative.async_job.repository import AsyncJobRepository
from airbyte_cdk.sources.declarative.async_job.status import AsyncJobStatus
from airbyte_cdk.sources.declarative.decoders.decoder import Decoder
from airbyte_cdk.sources.declarative.extractors.dpath_extractor import DpathExtractor
from airbyte_cdk.sources.declarative.extractors.record_extractor import RecordExtractor
from airbyte_cdk.sources.declarative.extractors.record_selector import RecordSelector
from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.declarative.partition_routers.async_job_partition_router import AsyncJobPartitionRouter
from airbyte_cdk.sources.declarative.requesters.http_job_repository import AsyncHttpJobRepository
from airbyte_cdk.sources.declarative.requesters.paginators import NoPagination
from airbyte_cdk.sources.declarative.requesters.requester import Requester
from airbyte_cdk.sources.declarative.retrievers.async_retriever import AsyncRetriever
from airbyte_cdk.sources.declarative.retrievers.simple_retriever import SimpleRetriever
from airbyte_cdk.sources.message import NoopMessageRepository
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.sources.utils.transform import TransformConfig, TypeTransformer
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.local_days import LocalDaySlices
from source_contacts.components.messages import slice_location

LOGGER = logging.getLogger("airbyte")
_FAILED = (AsyncJobStatus.FAILED, AsyncJobStatus.TIMED_OUT)
_STATUS_KINDS = {
    "running": AsyncJobStatus.RUNNING,
    "completed": AsyncJobStatus.COMPLETED,
    "failed": AsyncJobStatus.FAILED,
    "timeout": AsyncJobStatus.TIMED_OUT,
}


class UnlistedStatusesFail(dict):
    """API job status -> AsyncJobStatus, where a status the docs do not list ends the job as failed (the CDK's
    repository raises on it, and its orchestrator then polls for ever)."""

    def __init__(self, statuses: Mapping[str, List[str]], stream: str) -> None:
        super().__init__({status: _STATUS_KINDS[kind] for kind, listed in statuses.items() for status in listed})
        self._stream = stream

    def get(self, status: Any, default: Any = None) -> AsyncJobStatus:
        if status in self:
            return self[status]
        LOGGER.warning(f"Stream {self._stream}: an export job reports the status {status!r}, which the API's docs do not list; the job counts as failed.")
        return AsyncJobStatus.FAILED


class ExportJobOrchestrator(AsyncJobOrchestrator):
    """The CDK's job orchestrator, polling soon after a change and then less often, splitting a failing window, never
    looping on a job that timed out on its last attempt, and failing with a message that names the stream and slices.

    The wait is FIRST_WAIT after any change (a job started or finished) and doubles while nothing changes, up to
    MAX_WAIT; none when our last job just finished (the next starts at once) nor at the end. `split` (optional) cuts a
    window in two, or returns None for one too short: a window whose job failed SPLIT_AFTER_FAILURES times, or timed
    out, is then exported as its halves instead of being retried.
    """

    FIRST_WAIT_SECONDS = 0.2
    MAX_WAIT_SECONDS = 10.0
    SPLIT_AFTER_FAILURES = 2

    def __init__(
        self,
        job_repository: AsyncJobRepository,
        slices: Iterable[StreamSlice],
        job_tracker: JobTracker,
        *,
        stream: str,
        attempts: int,
        split: Optional[Callable[[StreamSlice], Optional[List[StreamSlice]]]] = None,
    ) -> None:
        # No message repository: a job that could not start is logged by the CDK and named in the final failure.
        super().__init__(job_repository, slices, job_tracker, NoopMessageRepository(), job_max_retry=attempts)
        self._stream = stream
        self._attempts = attempts
        self._split = split
        self._failed_job_ids: Dict[AsyncPartition, Set[str]] = {}
        self._polled_job_ids: frozenset = frozenset()
        self._next_wait = self.FIRST_WAIT_SECONDS
        self._failed_slices: List[str] = []

    def _wait_on_status_update(self) -> None:
        running = frozenset(job.api_job_id() for job in self._get_running_jobs())
        if not running and not self._running_partitions and not self._slice_iterator.has_next():
            return  # the loop is about to end: nothing to wait for
        if running != self._polled_job_ids:
            self._polled_job_ids = running
            self._next_wait = self.FIRST_WAIT_SECONDS
            if not running:
                return  # our jobs just finished: start the next one at once
        time.sleep(self._next_wait)
        self._next_wait = min(self._next_wait * 2, self.MAX_WAIT_SECONDS)

    def _halves(self, partition: AsyncPartition) -> Optional[List[StreamSlice]]:
        """The two halves to export instead of `partition`'s window, when its job timed out or failed
        SPLIT_AFTER_FAILURES times and the window can be split; else None."""
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
        statuses = ", ".join(sorted({job.status().name for job in partition.jobs}))
        self._failed_slices.append(f"slice {slice_location(partition.stream_slice)} (status {statuses} after {self._attempts} attempts)")

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


@dataclass
class ExportJobRetriever(AsyncRetriever):
    """An AsyncRetriever whose jobs an ExportJobOrchestrator runs; declared with the AsyncRetriever's own parts.

    creation_requester, polling_requester, download_requester, download_decoder, status_extractor,
    download_target_extractor, record_selector: as for an AsyncRetriever (`polling_response` and `creation_response`
      are in the download's slice).
    statuses: {running, completed, failed, timeout}: the API's status values of each kind; any other fails the job.
    job_timeout_minutes: a job still running this long after its creation times out (and is created again).
    attempts: jobs created for one slice before the stream fails naming it.
    split_windows_down_to: an ISO 8601 duration: a window whose job fails twice or times out is exported as two
      halves, down to windows this long. Empty: never split (slices that are not windows).
    max_concurrent_jobs: jobs of this stream running at once.
    local_days: an IANA time zone (interpolated): one job per finished calendar day of that zone (LocalDaySlices),
      the date in the slice (`stream_slice['date']`) for the creation requester; needs start_datetime.
    start_datetime: with local_days, the stream's start as its incremental_sync declares it (interpolated).
    The stream's windows (or partitions) arrive as `stream_slicer`, which this class wraps in the job router.
    """

    creation_requester: Optional[Requester] = None
    polling_requester: Optional[Requester] = None
    download_requester: Optional[Requester] = None
    download_decoder: Optional[Decoder] = None
    status_extractor: Optional[RecordExtractor] = None
    download_target_extractor: Optional[RecordExtractor] = None
    statuses: Mapping[str, List[str]] = field(default_factory=dict)
    job_timeout_minutes: int = 30
    attempts: int = 3
    split_windows_down_to: str = ""
    max_concurrent_jobs: int = 5
    local_days: str = ""
    start_datetime: str = ""
    name: str = ""

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        unknown = set(self.statuses) - set(_STATUS_KINDS)
        if unknown or not self.statuses.get("completed"):
            raise ValueError(f"ExportJobRetriever of stream {self.name}: statuses takes {sorted(_STATUS_KINDS)} with at least one completed status, not {dict(self.statuses)}")
        if self.attempts < 1 or self.job_timeout_minutes < 1 or self.max_concurrent_jobs < 1:
            raise ValueError(f"ExportJobRetriever of stream {self.name}: attempts, job_timeout_minutes and max_concurrent_jobs must be positive")
        windows = self.stream_slicer
        if self.local_days:
            if not self.start_datetime or self.split_windows_down_to:
                raise ValueError(f"ExportJobRetriever of stream {self.name}: local_days needs start_datetime, and days cannot be split")
            zone = InterpolatedString.create(self.local_days, parameters=parameters).eval(self.config)
            start = InterpolatedString.create(self.start_datetime, parameters=parameters).eval(self.config)
            windows = LocalDaySlices(windows, ZoneInfo(zone), datetime.fromisoformat(start.replace("Z", "+00:00")))
        floor = parse_duration(self.split_windows_down_to) if self.split_windows_down_to else None
        split = self._splitter(windows, floor) if floor else None
        repository = AsyncHttpJobRepository(
            creation_requester=self.creation_requester,  # type: ignore[arg-type]
            polling_requester=self.polling_requester,  # type: ignore[arg-type]
            download_retriever=self._download_retriever(),
            abort_requester=None,
            delete_requester=None,
            status_extractor=self.status_extractor,  # type: ignore[arg-type]
            status_mapping=UnlistedStatusesFail(self.statuses, self.name),
            download_target_extractor=self.download_target_extractor,
            job_timeout=timedelta(minutes=self.job_timeout_minutes),
        )
        tracker = JobTracker(self.max_concurrent_jobs)
        self.stream_slicer = AsyncJobPartitionRouter(
            job_orchestrator_factory=lambda slices: ExportJobOrchestrator(
                repository, slices, tracker, stream=self.name, attempts=self.attempts, split=split
            ),
            stream_slicer=windows,
            config=self.config,
            parameters=parameters,
        )

    def _download_retriever(self) -> SimpleRetriever:
        """Reads a job's file: the records as the decoder gives them (the stream's selector filters them after)."""
        extractor = DpathExtractor(field_path=[], config=self.config, decoder=self.download_decoder, parameters={})  # type: ignore[arg-type]
        selector = RecordSelector(
            extractor=extractor, name=self.name, record_filter=None, transformations=[],
            schema_normalization=TypeTransformer(TransformConfig.NoTransform), config=self.config, parameters={},
        )
        return SimpleRetriever(
            requester=self.download_requester,  # type: ignore[arg-type]
            record_selector=selector, primary_key=None, name=self.name,
            paginator=NoPagination(parameters={}), config=self.config, parameters={},
        )

    @staticmethod
    def _splitter(windows: Any, floor: timedelta) -> Callable[[StreamSlice], Optional[List[StreamSlice]]]:
        """The windows cursor's split_request_window, refusing windows of `floor` or shorter."""
        if not hasattr(windows, "split_request_window"):
            raise ValueError("split_windows_down_to needs the stream's incremental_sync windows")
        return lambda window: windows.split_request_window(window, floor)
