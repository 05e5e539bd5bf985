"""check: one cheap call per configured provider; invalid config fails with what to fix."""

import json
import tempfile
from pathlib import Path
from unittest import TestCase

from airbyte_cdk.models import Status
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, _run_command, make_file
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse

from source_contacts import SourceContacts
from tests.support.builders import V2_URL, V3_TOKEN_URL, v2_config, v3_oauth_config


def _check(config: dict) -> EntrypointOutput:
    # entrypoint_wrapper has no public check(); Airbyte's connectors call _run_command the same way.
    with tempfile.TemporaryDirectory() as folder:
        config_file = make_file(Path(folder) / "config.json", config)
        return _run_command(SourceContacts(config=config), ["check", "--config", config_file])


def _status(output: EntrypointOutput):
    return output.connection_status_messages[0].connectionStatus


def _lists_request() -> HttpRequest:
    return HttpRequest(f"{V2_URL}/lists", query_params={"api_key": "test-v2-key", "modified_since": "2024-01-01T00:00:00.000Z"})


class CheckTest(TestCase):
    def test_no_provider_section_fails_naming_the_sections(self) -> None:
        status = _status(_check({"start_date": "2024-01-01T00:00:00Z"}))
        assert status.status == Status.FAILED
        assert "constant_contact, constant_contact_v2 or cometly" in status.message

    def test_start_date_that_is_not_rfc3339_fails(self) -> None:
        status = _status(_check({**v2_config(), "start_date": "01/02/2024"}))
        assert status.status == Status.FAILED
        assert "start_date" in status.message

    def test_unknown_cometly_timezone_fails_naming_the_key(self) -> None:
        config = {"cometly": {"api_key": "k", "timezone": "Mars/Olympus_Mons"}}
        status = _status(_check(config))
        assert status.status == Status.FAILED
        assert "cometly.timezone 'Mars/Olympus_Mons'" in status.message

    @HttpMocker()
    def test_v2_credentials_accepted(self, http_mocker: HttpMocker) -> None:
        http_mocker.get(_lists_request(), HttpResponse(json.dumps([{"id": "1", "name": "A"}]), 200))
        assert _status(_check(v2_config())).status == Status.SUCCEEDED

    @HttpMocker()
    def test_v2_unauthorized_fails_naming_provider_and_keys(self, http_mocker: HttpMocker) -> None:
        http_mocker.get(_lists_request(), HttpResponse(json.dumps([{"error_key": "http.status.unauthorized"}]), 401))
        status = _status(_check(v2_config()))
        assert status.status == Status.FAILED
        assert "Constant Contact v2" in status.message and "api_key and access_token" in status.message

    @HttpMocker()
    def test_spent_v3_refresh_token_fails_naming_the_provider_and_asking_to_re_authenticate(self, http_mocker: HttpMocker) -> None:
        http_mocker.post(
            HttpRequest(V3_TOKEN_URL, body="grant_type=refresh_token&refresh_token=rt-1"),
            HttpResponse(json.dumps({"error": "invalid_grant", "error_description": "The refresh token is invalid or expired."}), 400),
        )
        status = _status(_check(v3_oauth_config()))
        assert status.status == Status.FAILED
        assert status.message.startswith("Constant Contact v3: ") and "Re-authenticate" in status.message

    @HttpMocker()
    def test_v2_failure_is_prefixed_with_the_provider(self, http_mocker: HttpMocker) -> None:
        http_mocker.get(_lists_request(), HttpResponse("[]", 403))
        assert _status(_check(v2_config())).message.startswith("Constant Contact v2: ")
