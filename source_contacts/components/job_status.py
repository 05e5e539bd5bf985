"""An export job's status, logging the reasons a job gives for failing."""

import logging
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, MutableMapping

import requests

from airbyte_cdk.sources.declarative.extractors.dpath_extractor import DpathExtractor

from source_contacts.components.messages import public_url

LOGGER = logging.getLogger("airbyte")


@dataclass
class JobStatusExtractor(DpathExtractor):
    """The status of an export job (a DpathExtractor on its status poll) that logs the reasons the job gives under
    `reasons_field` (Constant Contact's activity errors, Cometly's error): a failed job then says why, such as a list
    id the account does not have."""

    reasons_field: str = ""

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        self._stream = parameters.get("name", "")

    def extract_records(self, response: requests.Response) -> Iterable[MutableMapping[Any, Any]]:
        body = response.json()
        reasons = body.get(self.reasons_field) if isinstance(body, Mapping) else None
        if reasons:  # logged first: the CDK reads only the first status
            reasons = reasons if isinstance(reasons, list) else [reasons]
            text = "; ".join(str(r.get("message", r)) if isinstance(r, Mapping) else str(r) for r in reasons)
            LOGGER.warning(f"Stream {self._stream}: the export job at {public_url(response.url)} reports: {text}")
        return super().extract_records(response)

