"""The CDK's async job orchestrator, polling soon after a change and backing off while jobs keep running."""

import time
from typing import Any, Iterable, List

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.async_job.job_orchestrator import AsyncJobOrchestrator, AsyncPartition
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.slice_location import slice_location


class PollBackoffJobOrchestrator(AsyncJobOrchestrator):
    """AsyncJobOrchestrator with soon-then-back-off polling and a failure message naming stream and slice.

    The CDK sleeps a fixed 5 s between status polls, which costs every export job 5-15 s even when the
    API answers in a second. Here the wait is FIRST_WAIT after any change (a job started or finished)
    and doubles while nothing changes, up to MAX_WAIT. No wait when our last job just finished (the next
    one starts at once) nor at the end; waits only grow while idle (the shared job limit is taken).
    The CDK builds its orchestrator inside ModelToComponentFactory.create_async_retriever with no hook,
    so `install()` (called once by SourceContacts) points that factory at this class: every
    AsyncRetriever stream of the connector gets it.
    """

    FIRST_WAIT_SECONDS = 0.2
    MAX_WAIT_SECONDS = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._polled_job_ids: frozenset = frozenset()
        self._next_wait = self.FIRST_WAIT_SECONDS
        self._failed_slices: List[str] = []

    @classmethod
    def install(cls) -> None:
        """Makes the declarative component factory build this orchestrator for every AsyncRetriever."""
        from airbyte_cdk.sources.declarative.parsers import model_to_component_factory

        model_to_component_factory.AsyncJobOrchestrator = cls  # type: ignore[misc]

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

    def _process_partitions_with_errors(self, partition: AsyncPartition) -> None:
        super()._process_partitions_with_errors(partition)
        attempts = self._job_max_retry or AsyncPartition._DEFAULT_MAX_JOB_RETRY
        statuses = sorted({job.status().name for job in partition.jobs})
        self._failed_slices.append(f"slice {slice_location(partition.stream_slice)} (status {', '.join(statuses)} after {attempts} attempts)")

    def create_and_get_completed_partitions(self) -> Iterable[AsyncPartition]:
        try:
            yield from super().create_and_get_completed_partitions()
        except AirbyteTracedException as error:
            if not self._failed_slices or error.failure_type == FailureType.config_error:
                raise
            stream = getattr(getattr(self._job_repository, "download_retriever", None), "name", "") or "an export stream"
            message = f"Stream {stream}: the export job failed for {'; '.join(self._failed_slices)}. Other slices were read."
            raise AirbyteTracedException(
                message=message, internal_message=error.internal_message, failure_type=FailureType.system_error
            ) from error
