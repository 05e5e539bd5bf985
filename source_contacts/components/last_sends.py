"""When each Constant Contact activity was last sent, from its send history: what the engagement window counts from."""

from dataclasses import InitVar, dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping

import requests

from airbyte_cdk.sources.declarative.extractors.record_extractor import RecordExtractor


@dataclass
class LastSendExtractor(RecordExtractor):
    """One record per activity from its send history (a bare JSON array, oldest first): `last_sent_at`, the newest
    `run_date` (the manifest adds the activity's id). An activity never sent gives no record."""

    parameters: InitVar[Mapping[str, Any]]

    def extract_records(self, response: requests.Response) -> Iterable[Mapping[str, Any]]:
        sends = response.json()
        dates = [send["run_date"] for send in sends if isinstance(send, Mapping) and send.get("run_date")]
        if dates:
            yield {"last_sent_at": max(dates, key=lambda stamp: datetime.fromisoformat(stamp.replace("Z", "+00:00")))}
