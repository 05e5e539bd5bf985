"""The error handler that also checks a 2xx answer is JSON: a page that is not (HTML from a proxy, cut) is retried."""

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

import orjson
import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.requesters.error_handlers.default_error_handler import DefaultErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction

from source_contacts.components.messages import public_url


def why_not_json(response: requests.Response) -> Optional[str]:
    """Why the body of `response` is not UTF-8 JSON (empty, a proxy's HTML page, cut, bad bytes), or None when it is."""
    body = response.content
    if not body.strip():
        return "the body is empty"
    try:
        # strict: invalid UTF-8 fails too, where a lenient decoder would read U+FFFD
        orjson.loads(body)
        return None
    except orjson.JSONDecodeError as error:
        kind = response.headers.get("Content-Type", "no Content-Type")
        return f"{kind} body of {len(body)} bytes starting {body[:40]!r}: {error}"


@dataclass
class JsonAnswerErrorHandler(DefaultErrorHandler):
    """The CDK's DefaultErrorHandler judging a 2xx answer by its body: a request that asked for JSON
    (`Accept: application/json`) must get UTF-8 JSON back, else it is retried and, once retries are spent, the
    stream fails naming the URL. (The CDK's JSON decoder reads such a page as {}: the stream would end quietly
    with the rest of its pages missing.)

    Other 2xx answers succeed without going through `response_filters`, so a filter's body predicate only ever
    parses an error body, never a page of records nor a streamed download.
    """

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        self._stream = parameters.get("name", "")

    def interpret_response(self, response_or_exception: Optional[Union[requests.Response, Exception]]) -> ErrorResolution:
        response = response_or_exception
        if not isinstance(response, requests.Response) or not response.ok:
            return super().interpret_response(response_or_exception)
        problem = "application/json" in response.request.headers.get("Accept", "") and why_not_json(response)
        if not problem:
            return ErrorResolution(response_action=ResponseAction.SUCCESS)
        message = f"Stream {self._stream}: {public_url(response.url)} answered HTTP {response.status_code} with a page that is not JSON ({problem})."
        return ErrorResolution(response_action=ResponseAction.RETRY, failure_type=FailureType.transient_error, error_message=message)

