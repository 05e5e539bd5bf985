"""The one place where source-contacts reaches past the CDK's public extension points.

airbyte-cdk 7.39.1 waits a fixed 5 s between export job polls, fails a job without naming its slice, and
builds the orchestrator that does both inside ModelToComponentFactory.create_async_retriever, with no hook.
The source's factory itself is built inside ConcurrentDeclarativeSource.__init__, also with no hook. So:
- PollingJobOrchestrator overrides three private methods of AsyncJobOrchestrator;
- ContactsComponentFactory gives every AsyncRetriever that orchestrator, and every requester the manifest's
  api_budget wrapped in a PausingApiBudget (public factory methods);
- use_contacts_component_factory() hands the factory to a source (one private attribute).
unit_tests/test_cdk_hooks.py fails when any CDK internal named here changes.
"""

import time
from typing import Any, Callable, Iterable, Optional

from airbyte_cdk.models import ConfiguredAirbyteCatalog, FailureType
from airbyte_cdk.sources.declarative.async_job.job_orchestrator import AsyncJobOrchestrator, AsyncPartition
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.sources.declarative.parsers.model_to_component_factory import ModelToComponentFactory
from airbyte_cdk.sources.declarative.partition_routers.async_job_partition_router import AsyncJobPartitionRouter
from airbyte_cdk.sources.declarative.retrievers.async_retriever import AsyncRetriever
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.common import PausingApiBudget, slice_location


class PollingJobOrchestrator(AsyncJobOrchestrator):
    """AsyncJobOrchestrator that polls soon after a change and backs off while jobs keep running,
    and whose failure message names the stream and the failed slices.

    The wait is FIRST_WAIT after any change (a job started or finished) and doubles while nothing changes,
    up to MAX_WAIT. No wait when our last job just finished (the next one starts at once) nor at the end.
    `sleep` waits (time.sleep, looked up at each wait so that tests can stand in for it).
    """

    FIRST_WAIT_SECONDS = 0.2
    MAX_WAIT_SECONDS = 10.0

    @classmethod
    def adopting(cls, built: AsyncJobOrchestrator, stream: str, sleep: Optional[Callable[[float], None]] = None) -> "PollingJobOrchestrator":
        """This orchestrator with the state of the one the CDK built (its repository, slices, job tracker)."""
        orchestrator = cls.__new__(cls)
        orchestrator.__dict__.update(vars(built))
        orchestrator._stream = stream
        orchestrator._sleep = sleep
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

    def _replace_failed_jobs(self, partition: AsyncPartition) -> None:
        # A job that timed out on its last attempt is left to the partition processing, which fails it naming its
        # slice: the CDK would try to replace it, raise "Max attempt reached" and loop on that for ever, never waiting.
        if not partition.has_reached_max_attempt():
            super()._replace_failed_jobs(partition)

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
    """The CDK's component factory, building every AsyncRetriever with a PollingJobOrchestrator and the api_budget as
    a PausingApiBudget (a 429's Retry-After holds for every thread; no wait for budget over 10 minutes)."""

    def create_http_api_budget(self, model: Any, config: Any, **kwargs: Any) -> PausingApiBudget:
        return PausingApiBudget(super().create_http_api_budget(model, config, **kwargs))

    def create_async_retriever(self, model: Any, config: Any, *, name: str, **kwargs: Any) -> AsyncRetriever:
        retriever = super().create_async_retriever(model, config, name=name, **kwargs)
        jobs: AsyncJobPartitionRouter = retriever.stream_slicer  # type: ignore[assignment]
        build_cdk_orchestrator = jobs.job_orchestrator_factory
        return AsyncRetriever(
            config=config,
            parameters=model.parameters or {},
            record_selector=retriever.record_selector,
            stream_slicer=AsyncJobPartitionRouter(
                config=config,
                parameters=model.parameters or {},
                stream_slicer=jobs.stream_slicer,
                job_orchestrator_factory=lambda slices: PollingJobOrchestrator.adopting(build_cdk_orchestrator(slices), name),
            ),
        )


def use_contacts_component_factory(
    source: ConcurrentDeclarativeSource, catalog: Optional[ConfiguredAirbyteCatalog], max_concurrent_async_job_count: Optional[int]
) -> None:
    """Replaces the factory the CDK built for `source` by a ContactsComponentFactory with the same message repository,
    state manager, catalog and job limit; call it right after ConcurrentDeclarativeSource.__init__."""
    source._constructor = ContactsComponentFactory(
        message_repository=source._constructor.get_message_repository(),
        connector_state_manager=source._connector_state_manager,
        configured_catalog=catalog,
        max_concurrent_async_job_count=max_concurrent_async_job_count,
    )
