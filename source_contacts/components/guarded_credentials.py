"""Credentials only for the requests that may have them: to the configured API host, while the API's daily quota
lasts, and not before a 429's Retry-After has passed for that endpoint, whichever thread drew it.

GuardedCredentials wraps a provider's authenticator. The CDK applies the authenticator to every request it sends
(and again to each retry), and, since the authenticator is a ResponseAwareAuthenticator, shows it every answer: so
it sees each call before it leaves, and counts what the API said of it.
"""

import re
import threading
import time
from dataclasses import InitVar, dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from time import monotonic
from typing import Any, Dict, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.auth.declarative_authenticator import DeclarativeAuthenticator
from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.types import Config
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

# No single wait is longer: a Retry-After beyond it fails the stream (the manifest's retry_after_too_long says the same).
LONGEST_WAIT_SECONDS = 600
# A path's ids (numbers, UUIDs, comma-joined lists of them): one endpoint whatever the job, list or activity.
_IDS = re.compile(r"/(?:[0-9a-fA-F-]{6,}|\d+)(?:,[0-9a-fA-F-]+)*(?=/|$)")


def utc_after(seconds: float) -> str:
    """The UTC time `seconds` from now, to the minute: `2024-03-21 12:05 UTC`."""
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M UTC")


def retry_after_seconds(value: Optional[str]) -> Optional[float]:
    """A Retry-After header in seconds, from either form RFC 9110 allows (`120`, `Wed, 21 Oct 2026 07:28:00 GMT`)."""
    value = (value or "").strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(timezone.utc)).total_seconds())


def _host(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return f"{(parts.hostname or '').lower()}:{port}"


class SyncCalls:
    """What this sync knows of each API: calls made per stream, a spent daily quota, endpoints paused by a 429.
    One per process, started anew by each read (SourceContacts.read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.start()

    def start(self) -> None:
        with self._lock:
            self.calls: Dict[Tuple[str, str], int] = {}  # (quota, stream) -> calls answered
            self.spent: Dict[str, str] = {}  # quota -> the stream that was told so
            self._paused_until: Dict[str, float] = {}  # endpoint -> monotonic time

    def counted(self, quota: str) -> int:
        return sum(n for (name, _), n in self.calls.items() if name == quota)

    def count(self, quota: str, stream: str) -> None:
        with self._lock:
            self.calls[(quota, stream)] = self.calls.get((quota, stream), 0) + 1

    def spend(self, quota: str, stream: str) -> None:
        with self._lock:
            self.spent.setdefault(quota, stream)

    def pause(self, endpoint: str, seconds: float) -> None:
        with self._lock:
            until = monotonic() + seconds
            self._paused_until[endpoint] = max(until, self._paused_until.get(endpoint, 0.0))

    def summary(self, stream: str, daily_calls: int = 10_000) -> Optional[str]:
        """How many calls `stream` made against its API's daily quota, and how many are left as far as this sync knows."""
        for (quota, name), calls in list(self.calls.items()):
            if name == stream:
                left = "none" if quota in self.spent else max(0, daily_calls - self.counted(quota))
                return f"Stream {stream} made {calls} calls to {quota}; {left} of the day's {daily_calls:,} are left as far as this sync knows."
        return None

    def pause_left(self, endpoint: str) -> float:
        return self._paused_until.get(endpoint, 0.0) - monotonic()


SYNC_CALLS = SyncCalls()


@dataclass
class GuardedCredentials(DeclarativeAuthenticator):
    """`authenticator`, applied only to requests that may carry its credentials.

    api_url: the configured base URL (interpolated); a request to another host is refused before anything is sent.
    quota: the name of the daily quota the API counts calls against (empty: none), shared by every stream of the API;
      after a `quota_exceeded` answer, or `daily_calls` calls in this sync, no further call is made.
    quota_message: the failure of every call refused for the quota.
    """

    authenticator: DeclarativeAuthenticator
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    api_url: str = ""
    quota: str = ""
    daily_calls: int = 0
    quota_message: str = "The API's daily quota is spent."

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = parameters.get("name", "")
        self._api_host = _host(str(InterpolatedString.create(self.api_url, parameters=parameters).eval(self.config)))

    @property
    def auth_header(self) -> str:
        return self.authenticator.auth_header

    @property
    def token(self) -> str:
        return self.authenticator.token

    def get_auth_header(self) -> Mapping[str, Any]:
        return self.authenticator.get_auth_header()

    def get_request_params(self) -> Mapping[str, Any]:
        return self.authenticator.get_request_params()

    def get_request_body_data(self) -> Union[Mapping[str, Any], str]:
        return self.authenticator.get_request_body_data()

    def get_request_body_json(self) -> Mapping[str, Any]:
        return self.authenticator.get_request_body_json()

    def refresh_and_set_access_token(self) -> None:
        self.authenticator.refresh_and_set_access_token()  # type: ignore[attr-defined]

    def __call__(self, request: requests.PreparedRequest) -> Any:
        host = _host(request.url or "")
        if host != self._api_host:
            where = (request.url or "").split("?", 1)[0]
            self._fail(f"the API sent a link to {where}, on another host than the configured one ({self._api_host}); "
                       "the connector sends credentials to the configured host only.", FailureType.system_error)
        if self.quota and (self.quota in SYNC_CALLS.spent or (self.daily_calls and SYNC_CALLS.counted(self.quota) >= self.daily_calls)):
            self._fail(self.quota_message, FailureType.transient_error)
        endpoint = self._endpoint(request)
        pause = SYNC_CALLS.pause_left(endpoint)
        if pause > LONGEST_WAIT_SECONDS:
            self._fail(f"{endpoint} asked to wait {pause:.0f} s (Retry-After) before the next call, more than the 10 minutes the "
                       f"connector waits. The sync stops here (the state it saved stands); run it again after {utc_after(pause)}.",
                       FailureType.transient_error)
        if pause > 0:
            time.sleep(pause)
        return self.authenticator(request)

    def update_from_response(self, request: requests.PreparedRequest, response: requests.Response) -> None:
        if self.quota:
            SYNC_CALLS.count(self.quota, self._stream)
        if response.status_code != 429:
            return
        if self.quota and b"quota_exceeded" in (response.content or b""):
            SYNC_CALLS.spend(self.quota, self._stream)
        seconds = retry_after_seconds(response.headers.get("Retry-After"))
        if seconds:
            SYNC_CALLS.pause(self._endpoint(request), seconds)

    @staticmethod
    def _endpoint(request: requests.PreparedRequest) -> str:
        return f"{request.method} {_IDS.sub('/{id}', urlsplit(request.url or '').path)}"

    def _fail(self, why: str, failure_type: FailureType) -> None:
        message = f"Stream {self._stream}: {why}"
        raise AirbyteTracedException(message=message, internal_message=message, failure_type=failure_type)
