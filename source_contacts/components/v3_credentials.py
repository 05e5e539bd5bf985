"""Constant Contact v3 credentials whose failures say what to fix: a fixed access token, a wrong OAuth client."""

from dataclasses import InitVar, dataclass
from typing import Any, Mapping

import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.auth.declarative_authenticator import DeclarativeAuthenticator
from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.types import Config
from airbyte_cdk.utils.traced_exception import AirbyteTracedException


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
class InvalidClientAuthenticator(DeclarativeAuthenticator):
    """The declared OAuthAuthenticator (`authenticator`), failing a refresh the token endpoint answers `invalid_client`
    (a wrong client_id or client_secret) as a config error that says so (`rejected_message`).

    The CDK maps the refresh errors its `refresh_token_error_values` list to "Re-authenticate", which is wrong advice
    for this one, and lets the others out as a bare `HTTPError`.
    """

    authenticator: DeclarativeAuthenticator
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    rejected_message: str = "The OAuth token endpoint rejected the client credentials (invalid_client)."

    @property
    def auth_header(self) -> str:
        return "Authorization"

    @property
    def token(self) -> str:
        return str(self._explained(self.authenticator.get_auth_header)[self.auth_header])

    def refresh_and_set_access_token(self) -> None:
        self._explained(self.authenticator.refresh_and_set_access_token)  # type: ignore[attr-defined]

    def _explained(self, call: Any) -> Any:
        try:
            return call()
        except requests.HTTPError as error:
            body = error.response.json() if error.response is not None and error.response.content else {}
            if isinstance(body, Mapping) and body.get("error") == "invalid_client":
                raise AirbyteTracedException(
                    message=self.rejected_message, internal_message=str(error), failure_type=FailureType.config_error
                ) from None
            raise

