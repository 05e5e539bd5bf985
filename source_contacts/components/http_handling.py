"""HTTP behaviour the CDK's declarative components cannot say: a page that is not JSON is retried, a host that
cannot be reached is named, a 429's Retry-After holds for every thread, and no wait is longer than 10 minutes."""

import socket
import threading
import time
from dataclasses import InitVar, dataclass
from datetime import datetime, timedelta, timezone
from time import monotonic
from typing import Any, Dict, Mapping, MutableMapping, Optional, Union
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

import orjson
import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.exceptions import SSLError as TlsError

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.requesters.error_handlers.default_error_handler import DefaultErrorHandler
from airbyte_cdk.sources.streams.call_rate import AbstractAPIBudget, AbstractCallRatePolicy, CallRateLimitHit
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction
from airbyte_cdk.sources.types import Config
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.common import public_url
from source_contacts.components.json_pages import loads_json_page

# No single wait is longer: a Retry-After beyond it fails the stream (the manifest's retry_after_too_long filter
# says the same number), and so does a budget that would need longer.
LONGEST_WAIT_SECONDS = 600


def utc_after(seconds: float) -> str:
    """The UTC time `seconds` from now, to the minute: `2024-03-21 12:05 UTC`."""
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M UTC")


# The parse why_not_json made of a response's body, kept on the response for its decoder (DecodeOnceJsonDecoder).
_CHECKED_JSON_BODY = "_source_contacts_checked_json_body"


def json_body_checked(response: requests.Response) -> Any:
    """The JSON value why_not_json found in the body of `response`, or None if it did not parse it."""
    return getattr(response, _CHECKED_JSON_BODY, None)


def why_not_json(response: requests.Response) -> Optional[str]:
    """Why the body of `response` is not UTF-8 JSON (empty, a proxy's HTML page, cut, bad bytes), or None when it is.

    The parse is kept on the response (json_body_checked): a page of records is parsed once, not checked and parsed."""
    body = response.content
    if not body.strip():
        return "the body is empty"
    try:
        # strict: invalid UTF-8 fails too, where a lenient decoder would read U+FFFD
        setattr(response, _CHECKED_JSON_BODY, loads_json_page(body))
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


def why_unreachable(error: Any) -> Optional[str]:
    """Why a request never reached its server (DNS, refused, connect timeout, TLS), or None for any other outcome."""
    if not isinstance(error, requests.exceptions.ConnectionError):
        return None
    reason = getattr(error.args[0], "reason", None) if error.args else None
    if isinstance(reason, NameResolutionError):
        return "its name does not resolve"
    if isinstance(reason, NewConnectionError):
        return f"the connection failed: {str(reason).rsplit('] ', 1)[-1]}"
    if isinstance(reason, ConnectTimeoutError) or isinstance(error, requests.exceptions.ConnectTimeout):
        return "the connection timed out"
    if isinstance(reason, TlsError) or isinstance(error, requests.exceptions.SSLError):
        return "the TLS handshake failed"
    return None


def why_host_unreachable(url: str) -> Optional[str]:
    """Why the host of `url` takes no TCP connection within 5 s (DNS, refused, timeout), or None when it does."""
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)), timeout=5).close()
        return None
    except socket.gaierror:
        return "its name does not resolve"
    except socket.timeout:
        return "the connection timed out"
    except OSError as error:
        return f"the connection failed: {error.strerror or error}"


@dataclass
class UnreachableHostBackoff(BackoffStrategy):
    """Fails a request that cannot reach its host once it has tried for `give_up_after_seconds`, naming the host.

    Waits between attempts stay the CDK's (this strategy returns None): those retries are logged as errors,
    never as rate limits, which a backoff strategy's waits would be. Put it first in `backoff_strategies`.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    give_up_after_seconds: float = 30

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = parameters.get("name", "")
        self._first_failures: MutableMapping[requests.PreparedRequest, float] = WeakKeyDictionary()

    def backoff_time(self, response_or_exception: Any, attempt_count: int) -> Optional[float]:
        why = why_unreachable(response_or_exception)
        if why is None:
            return None
        request = response_or_exception.request
        trying_for = monotonic() - self._first_failures.setdefault(request, monotonic())
        if trying_for >= self.give_up_after_seconds:
            host = urlsplit(request.url).netloc.rsplit("@", 1)[-1]
            message = (
                f"Stream {self._stream}: could not reach {host} ({why}) in {attempt_count} attempts over "
                f"{trying_for:.0f} s. Check the host in the config (api_url, token_url) and that this network can reach it."
            )
            raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.transient_error)
        return None


class PausingApiBudget(AbstractAPIBudget):
    """An API budget (the manifest's HTTPAPIBudget) where a 429's Retry-After pauses the endpoint it matched for
    every thread, and where no call waits longer than LONGEST_WAIT_SECONDS for budget.

    The CDK's budget reads a 429 as "window full" (or not at all), whatever Retry-After says, and otherwise
    waits as long as the budget needs: a day, once this sync has spent Constant Contact's 10,000 calls a day.
    """

    def __init__(self, budget: AbstractAPIBudget) -> None:
        self._budget = budget
        self._paused_until: Dict[int, float] = {}  # id(policy) -> monotonic time
        self._lock = threading.Lock()

    def get_matching_policy(self, request: Any) -> Optional[AbstractCallRatePolicy]:
        return self._budget.get_matching_policy(request)

    def acquire_call(self, request: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        policy = self.get_matching_policy(request)
        if policy is not None:
            pause = self._paused_until.get(id(policy), 0.0) - monotonic()
            if pause > 0:
                time.sleep(pause)
        try:
            self._budget.acquire_call(request, block=False)
        except CallRateLimitHit as hit:
            wait = hit.time_to_wait.total_seconds()
            if wait > LONGEST_WAIT_SECONDS:
                message = (
                    f"This sync has made all the calls the API allows to {public_url(request.url)} for now: the next one would "
                    f"wait {timedelta(seconds=round(wait))}, longer than the {LONGEST_WAIT_SECONDS // 60} minutes the connector waits. "
                    f"The sync stops here (the state it saved stands); run it again after {utc_after(wait)}."
                )
                raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.transient_error) from hit
            self._budget.acquire_call(request, block=block, timeout=timeout)

    def update_from_response(self, request: Any, response: Any) -> None:
        self._budget.update_from_response(request, response)
        policy = self.get_matching_policy(request)
        if policy is None or getattr(response, "status_code", None) != 429:
            return
        retry_after = str(response.headers.get("Retry-After", ""))
        if retry_after.isdigit() and 0 < int(retry_after) <= LONGEST_WAIT_SECONDS:
            with self._lock:
                until = monotonic() + int(retry_after)
                self._paused_until[id(policy)] = max(until, self._paused_until.get(id(policy), 0.0))
