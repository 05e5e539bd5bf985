"""PresignedDownloadRequester: no credentials to the file host; an expired link is replaced by a fresh poll."""

import json

import pytest

from airbyte_cdk.sources.declarative.auth.token import BearerAuthenticator
from airbyte_cdk.sources.declarative.requesters.error_handlers.default_error_handler import DefaultErrorHandler
from airbyte_cdk.sources.declarative.requesters.error_handlers.http_response_filter import HttpResponseFilter
from airbyte_cdk.sources.declarative.requesters.http_requester import HttpRequester
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ResponseAction
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.cometly import PresignedDownloadRequester

API = "https://app.cometly.com/public-api/v1"
FILES = "https://files.example.com/exports/7.ndjson.gz"
CONFIG = {"cometly": {"api_key": "secret-key"}}


def requester(max_url_refreshes: int = 2) -> PresignedDownloadRequester:
    status = HttpRequester(
        name="poll",
        url_base=API,
        path="/contacts/exports/{{ creation_response['export_id'] }}",
        authenticator=BearerAuthenticator(token_provider=_Token(), config=CONFIG, parameters={}),
        config=CONFIG,
        parameters={},
    )
    ignore_403 = DefaultErrorHandler(
        config=CONFIG,
        parameters={},
        response_filters=[HttpResponseFilter(action=ResponseAction.IGNORE, http_codes={403}, config=CONFIG, parameters={})],
    )
    return PresignedDownloadRequester(
        name="job download - cometly_contacts_export",
        url_base="{{ download_target }}",
        config=CONFIG,
        parameters={},
        error_handler=ignore_403,
        refresh_requester=status,
        max_url_refreshes=max_url_refreshes,
    )


class _Token:
    def get_token(self) -> str:
        return "secret-key"


def job_slice(signature: str = "old") -> StreamSlice:
    return StreamSlice(
        partition={},
        cursor_slice={"start_time": "2024-01-01T00:00:00Z", "end_time": "2024-01-30T23:59:59Z"},
        extra_fields={"download_target": f"{FILES}?X-Amz-Signature={signature}", "creation_response": {"export_id": 7}},
    )


def _file(signature: str) -> HttpRequest:
    return HttpRequest(FILES, query_params={"X-Amz-Signature": signature})


def _completed(signature: str) -> HttpResponse:
    return HttpResponse(json.dumps({"export_id": 7, "status": "completed", "download_url": f"{FILES}?X-Amz-Signature={signature}"}))


def test_downloads_the_captured_url_without_credentials() -> None:
    with HttpMocker() as http_mocker:
        http_mocker.get(_file("old"), HttpResponse("file-bytes"))
        response = requester().send_request(stream_slice=job_slice())
        sent = http_mocker._mocker.request_history
    assert response.text == "file-bytes"
    assert len(sent) == 1 and "Authorization" not in sent[0].headers


def test_expired_link_is_replaced_by_a_fresh_poll() -> None:
    with HttpMocker() as http_mocker:
        http_mocker.get(_file("old"), HttpResponse("<Error><Code>AccessDenied</Code></Error>", 403))
        http_mocker.get(HttpRequest(f"{API}/contacts/exports/7", headers={"Authorization": "Bearer secret-key"}), _completed("new"))
        http_mocker.get(_file("new"), HttpResponse("file-bytes"))
        response = requester().send_request(stream_slice=job_slice())
        sent = [(r.url.split("?")[0], "Authorization" in r.headers) for r in http_mocker._mocker.request_history]
    assert response.text == "file-bytes"
    assert sent == [(FILES, False), (f"{API}/contacts/exports/7", True), (FILES, False)]


def test_links_refused_every_time_fail_without_printing_the_url() -> None:
    with HttpMocker() as http_mocker:
        http_mocker.get(_file("old"), HttpResponse("expired", 403))
        http_mocker.get(HttpRequest(f"{API}/contacts/exports/7"), [_completed("a"), _completed("b")])
        http_mocker.get(_file("a"), HttpResponse("expired", 403))
        http_mocker.get(_file("b"), HttpResponse("expired", 403))
        with pytest.raises(AirbyteTracedException) as error:
            requester(max_url_refreshes=2).send_request(stream_slice=job_slice())
    assert "refused 3 download links" in error.value.message and "2024-01-01T00:00:00Z" in error.value.message
    assert "Signature" not in error.value.message and FILES not in error.value.message
