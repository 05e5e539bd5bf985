"""Presigned export files: fetched with no credentials, and fetched again from a fresh URL when one expired."""

from dataclasses import dataclass, field
from typing import Any, List, Mapping, Optional
from urllib.parse import parse_qsl, urlsplit

import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.requesters.requester import Requester
from airbyte_cdk.sources.types import StreamSlice, StreamState
from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.messages import slice_location
from source_contacts.components.spooled_download import SpooledDownloadRequester

_SIGNING_PARAMS = ("signature", "credential", "token")


def mask_presigned_url(url: str) -> None:
    """Registers the URL's signing values as secrets: the CDK puts a failed request's URL in logs and traces."""
    add_to_secrets(url)
    for key, value in parse_qsl(urlsplit(url).query):
        if value and any(part in key.lower() for part in _SIGNING_PARAMS):
            add_to_secrets(value)


@dataclass
class PresignedDownloadRequester(SpooledDownloadRequester):
    """GETs `{{ download_target }}` with no credentials; a 403 from the file host re-polls the job for a new URL.

    The CDK downloads the URL captured by the poll that saw the job complete; a presigned URL expires
    (Cometly: 15 minutes), so a late download must ask the job again. Declare the error handler with
    `403 -> IGNORE` so the 403 reaches this class instead of failing the sync. The file is downloaded whole
    (SpooledDownloadRequester) before it is decoded.
    refresh_requester: the job status requester; it is sent the same slice, which holds `creation_response`.
    download_url_path: keys leading to the fresh URL in the status answer.
    max_url_refreshes: fresh URLs to try before the sync fails.
    """

    refresh_requester: Optional[Requester] = None
    download_url_path: List[str] = field(default_factory=lambda: ["download_url"])
    max_url_refreshes: int = 3

    def send_request(  # type: ignore[override]  # every CDK caller passes keywords
        self, stream_state: Optional[StreamState] = None, stream_slice: Optional[StreamSlice] = None, **kwargs: Any
    ) -> Optional[requests.Response]:
        for refreshes in range(self.max_url_refreshes + 1):
            if refreshes:
                stream_slice = self._with_fresh_url(stream_slice)
            if stream_slice is not None and stream_slice.extra_fields.get("download_target"):
                mask_presigned_url(stream_slice.extra_fields["download_target"])
            response = super().send_request(stream_state=stream_state, stream_slice=stream_slice, **kwargs)
            if response is None or response.status_code != 403:
                return response
            response.close()
            self.logger.info(f"{self.name}: the download link was refused (expired); asking the job for a fresh one.")
        raise self._error(f"the file host refused {self.max_url_refreshes + 1} download links in a row (HTTP 403)", stream_slice)

    def _with_fresh_url(self, stream_slice: Optional[StreamSlice]) -> StreamSlice:
        """The same slice with `download_target` replaced by the URL of a new status poll."""
        if self.refresh_requester is None or stream_slice is None:
            raise self._error("the download link expired and no refresh_requester is declared", stream_slice)
        answer = self.refresh_requester.send_request(stream_slice=stream_slice)
        url: Any = answer.json() if answer is not None else None
        for key in self.download_url_path:
            url = url.get(key) if isinstance(url, Mapping) else None
        if not isinstance(url, str) or not url:
            raise self._error("the download link expired and the job no longer offers one", stream_slice)
        return StreamSlice(
            partition=stream_slice.partition,
            cursor_slice=stream_slice.cursor_slice,
            extra_fields={**stream_slice.extra_fields, "download_target": url},
        )

    def _error(self, what: str, stream_slice: Optional[StreamSlice]) -> AirbyteTracedException:
        # The URL itself is never put in a message: its signature is a credential.
        message = f"{self.name}: {what}. Slice: {slice_location(stream_slice)}."
        return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)

