"""A requester that hands everything to the requester it wraps, adding options of its own to each request."""

from dataclasses import InitVar, dataclass
from typing import Any, Callable, Mapping, MutableMapping, Optional, Union

import requests

from airbyte_cdk.sources.declarative.auth.declarative_authenticator import DeclarativeAuthenticator
from airbyte_cdk.sources.declarative.requesters.requester import HttpMethod, Requester
from airbyte_cdk.sources.types import Config, StreamSlice, StreamState


@dataclass
class DelegatingRequester(Requester):
    """The wrapped `requester`, sending each request with the options `options(stream_slice)` gives (JSON values), in
    its query (`inject_into: request_parameter`, arrays as `name[]=a&name[]=b`, the form PHP reads) or its JSON body
    (`body_json`); everything else is the wrapped requester's."""

    requester: Requester
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    inject_into: str = "request_parameter"

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        if self.inject_into not in ("request_parameter", "body_json"):
            raise ValueError(f"inject_into must be request_parameter or body_json, not {self.inject_into}")

    def options(self, stream_slice: Optional[StreamSlice]) -> Mapping[str, Any]:
        return {}

    def send_request(
        self,
        stream_state: Optional[StreamState] = None,
        stream_slice: Optional[StreamSlice] = None,
        next_page_token: Optional[Mapping[str, Any]] = None,
        path: Optional[str] = None,
        request_headers: Optional[Mapping[str, Any]] = None,
        request_params: Optional[Mapping[str, Any]] = None,
        request_body_data: Optional[Union[Mapping[str, Any], str]] = None,
        request_body_json: Optional[Mapping[str, Any]] = None,
        log_formatter: Optional[Callable[[requests.Response], Any]] = None,
    ) -> Optional[requests.Response]:
        options = self.options(stream_slice)
        if self.inject_into == "request_parameter":
            query = {f"{name}[]" if isinstance(value, list) else name: value for name, value in options.items()}
            request_params = {**(request_params or {}), **query}
        else:
            request_body_json = {**(request_body_json or {}), **options}
        return self.requester.send_request(
            stream_state=stream_state,
            stream_slice=stream_slice,
            next_page_token=next_page_token,
            path=path,
            request_headers=request_headers,
            request_params=request_params,
            request_body_data=request_body_data,
            request_body_json=request_body_json,
            log_formatter=log_formatter,
        )

    def get_authenticator(self) -> DeclarativeAuthenticator:
        return self.requester.get_authenticator()

    def get_url_base(self, **kwargs: Any) -> str:
        return self.requester.get_url_base(**kwargs)

    def get_path(self, **kwargs: Any) -> str:
        return self.requester.get_path(**kwargs)

    def get_method(self) -> HttpMethod:
        return self.requester.get_method()

    def get_request_params(self, **kwargs: Any) -> MutableMapping[str, Any]:
        return self.requester.get_request_params(**kwargs)

    def get_request_headers(self, **kwargs: Any) -> Mapping[str, Any]:
        return self.requester.get_request_headers(**kwargs)

    def get_request_body_data(self, **kwargs: Any) -> Union[Mapping[str, Any], str]:
        return self.requester.get_request_body_data(**kwargs)

    def get_request_body_json(self, **kwargs: Any) -> Optional[Mapping[str, Any]]:
        return self.requester.get_request_body_json(**kwargs)
