"""After one window of a stream fails, its later windows are not read: they would fail the same way, each paying its
retries (a persistent 400 from 1970 on is 694 windows of cc_contacts), and the state cannot pass the failed one."""

import logging
import threading
from dataclasses import InitVar, dataclass
from typing import Any, Iterable, Mapping, Optional

from airbyte_cdk.sources.declarative.retrievers.retriever import Retriever
from airbyte_cdk.sources.streams.core import StreamData
from airbyte_cdk.sources.types import StreamSlice

LOGGER = logging.getLogger("airbyte")


@dataclass
class FirstFailureEndsStream(Retriever):
    """Reads through `retriever` until one of its reads fails; from then on every read of the stream yields nothing
    (the failure itself still fails the stream, and the state stays before the failed window)."""

    retriever: Retriever
    parameters: InitVar[Mapping[str, Any]]
    name: str = ""

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._failed = threading.Event()
        self._skipped = 0

    def read_records(self, records_schema: Mapping[str, Any], stream_slice: Optional[StreamSlice] = None) -> Iterable[StreamData]:
        if self._failed.is_set():
            self._skipped += 1
            if self._skipped == 1:
                LOGGER.info(f"Stream {self.name}: a window failed, so the later ones are not read; the next sync starts again from the state saved.")
            return
        try:
            yield from self.retriever.read_records(records_schema, stream_slice)
        except Exception:
            self._failed.set()
            raise
