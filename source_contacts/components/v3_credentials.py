"""Constant Contact v3 credentials whose failures say what to fix: a fixed access token, an OAuth refresh that fails."""

import threading
from dataclasses import InitVar, dataclass
from typing import Any, Callable, List, Mapping

import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.auth.declarative_authenticator import DeclarativeAuthenticator
from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.streams.http.exceptions import DefaultBackoffException
from airbyte_cdk.sources.types import Config
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.messages import public_url


@dataclass
class AccessTokenAuthenticator(DeclarativeAuthenticator):
    """Sends a fixed v3 access token as `Bearer`; asked to refresh it (a 401), fails saying what to fix.

    The v3 error handler answers 401 with REFRESH_TOKEN_THEN_RETRY, which refreshes an OAuth token; in
    access-token mode the CDK calls this `refresh_and_set_access_token` instead, so one error handler
    serves both credential modes.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    access_token: str = ""
    rejected_message: str = "The access token was rejected (HTTP 401)."

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._token = InterpolatedString.create(self.access_token, parameters=parameters).eval(self.config)

    @property
    def auth_header(self) -> str:
        return "Authorization"

    @property
    def token(self) -> str:
        return f"Bearer {self._token}"

    def refresh_and_set_access_token(self) -> None:
        raise AirbyteTracedException(
            message=self.rejected_message, internal_message=self.rejected_message, failure_type=FailureType.config_error
        )


@dataclass
class ExplainedOAuthAuthenticator(DeclarativeAuthenticator):
    """The declared OAuthAuthenticator (`authenticator`), whose refresh has a deadline and whose failures say what to fix.

    The CDK sends the token request without a timeout (a token endpoint that takes the connection and never answers
    would hang the sync), retries a 5xx for 5 minutes and ends with a bare DefaultBackoffException, lets an HTML page
    out as a JSONDecodeError, and maps `invalid_client` (a wrong client_id or client_secret) to "Re-authenticate".
    Here a refresh gets `answer_timeout_seconds`, and each of those fails naming what to check.
    rejected_message: the failure for `invalid_client`.
    token_setting: the config key of the token endpoint, named in the failures.
    """

    authenticator: DeclarativeAuthenticator
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    rejected_message: str = "The OAuth token endpoint rejected the client credentials (invalid_client)."
    token_setting: str = "token_url"
    answer_timeout_seconds: float = 70.0

    @property
    def auth_header(self) -> str:
        return "Authorization"

    @property
    def token(self) -> str:
        return str(self._explained(self.authenticator.get_auth_header)[self.auth_header])

    def refresh_and_set_access_token(self) -> None:
        self._explained(self.authenticator.refresh_and_set_access_token)  # type: ignore[attr-defined]

    def _explained(self, call: Callable[[], Any]) -> Any:
        outcome: List[Any] = []

        def attempt() -> None:
            try:
                outcome.append((True, call()))
            except BaseException as error:  # handed to the calling thread
                outcome.append((False, error))

        worker = threading.Thread(target=attempt, daemon=True)
        worker.start()
        worker.join(self.answer_timeout_seconds)
        endpoint = public_url(str(self.authenticator.get_token_refresh_endpoint()))  # type: ignore[attr-defined]
        if not outcome:
            self._fail(f"the OAuth token endpoint {endpoint} gave no usable answer in {self.answer_timeout_seconds:.0f} s; check "
                       f"{self.token_setting}, or try again later if it is right", FailureType.transient_error)
        succeeded, value = outcome[0]
        if succeeded:
            return value
        if isinstance(value, requests.HTTPError) and value.response is not None:
            body = _json_or_empty(value.response)
            if isinstance(body, Mapping) and body.get("error") == "invalid_client":
                raise AirbyteTracedException(message=self.rejected_message, internal_message=str(value), failure_type=FailureType.config_error) from None
        if isinstance(value, DefaultBackoffException):
            status = value.response.status_code if isinstance(value.response, requests.Response) else "an error"
            self._fail(f"the OAuth token endpoint {endpoint} kept answering HTTP {status} for 5 minutes; try again later, or check "
                       f"{self.token_setting}", FailureType.transient_error)
        if isinstance(value, ValueError):  # requests' JSONDecodeError too
            self._fail(f"the OAuth token endpoint {endpoint} answered with a page that is not JSON (a proxy's page, or not a token "
                       f"endpoint): check {self.token_setting}", FailureType.config_error)
        raise value

    @staticmethod
    def _fail(message: str, failure_type: FailureType) -> None:
        message = f"Constant Contact v3: {message}."
        raise AirbyteTracedException(message=message, internal_message=message, failure_type=failure_type)


def _json_or_empty(response: requests.Response) -> Any:
    try:
        return response.json() if response.content else {}
    except ValueError:
        return {}
