"""A host that cannot be reached (DNS, refused, TLS) fails the request after a while, naming the host."""

import socket
from dataclasses import InitVar, dataclass
from time import monotonic
from typing import Any, Mapping, MutableMapping, Optional
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.exceptions import SSLError as TlsError

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy
from airbyte_cdk.sources.types import Config
from airbyte_cdk.utils.traced_exception import AirbyteTracedException


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

