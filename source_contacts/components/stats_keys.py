"""Constant Contact's activity stats come with the spec's keys (`em_opens_all_mobile`) or, as a guide example shows,
dotted ones (`em_opens.all.mobile`): a warehouse column gets one name either way."""

from dataclasses import InitVar, dataclass
from typing import Any, Dict, List, Mapping, Optional

from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.types import Config, StreamSlice, StreamState


@dataclass
class UnderscoredKeys(RecordTransformation):
    """The keys of the object at `field_path` (a path of keys) with dots made underscores (`em_opens.all.mobile` ->
    `em_opens_all_mobile`)."""

    field_path: List[str]
    parameters: InitVar[Mapping[str, Any]]

    def transform(
        self,
        record: Dict[str, Any],
        config: Optional[Config] = None,
        stream_state: Optional[StreamState] = None,
        stream_slice: Optional[StreamSlice] = None,
    ) -> None:
        *parents, last = self.field_path
        holder: Any = record
        for key in parents:
            holder = holder.get(key) if isinstance(holder, Mapping) else None
        if isinstance(holder, dict) and isinstance(holder.get(last), Mapping):
            holder[last] = {key.replace(".", "_"): value for key, value in holder[last].items()}
