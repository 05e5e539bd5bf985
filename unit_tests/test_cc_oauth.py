"""v3 auth: OAuth refresh with HTTP Basic, rotated refresh tokens persisted by CONTROL message, invalid_grant,
refresh on 401, and the access-token mode."""

import base64
import json

from airbyte_cdk.models import FailureType
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from tests.support.builders import (
    V3_TOKEN_URL,
    V3_URL,
    StrictHttpMocker,
    control_configs,
    run_read,
    v3_access_token_config,
    v3_oauth_config,
)

STREAM = "cc_contact_lists"
BASIC = "Basic " + base64.b64encode(b"test-client:test-secret").decode()
LISTS = {"lists": [{"list_id": "l1", "name": "Customers", "updated_at": "2024-05-01T00:00:00Z"}], "lists_count": 1}


def _token_request(refresh_token: str = "rt-1") -> HttpRequest:
    return HttpRequest(
        V3_TOKEN_URL,
        headers={"Authorization": BASIC},
        body=f"grant_type=refresh_token&refresh_token={refresh_token}",
    )


def _token_response(access_token: str = "at-1", refresh_token: str = "rt-2") -> HttpResponse:
    body = {"access_token": access_token, "refresh_token": refresh_token, "expires_in": 3600, "token_type": "Bearer"}
    return HttpResponse(json.dumps(body), 200)


def _lists_request(access_token: str) -> HttpRequest:
    return HttpRequest(f"{V3_URL}/contact_lists", query_params={"limit": "1000"}, headers={"Authorization": f"Bearer {access_token}"})


def test_refresh_uses_basic_auth_and_a_form_without_client_credentials_then_bearer() -> None:
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_token_request(), _token_response())
        http_mocker.get(_lists_request("at-1"), HttpResponse(json.dumps(LISTS), 200))

        output = run_read(v3_oauth_config(), STREAM)

    assert [r.record.data["list_id"] for r in output.records] == ["l1"]


def test_a_rotated_refresh_token_comes_out_as_a_control_message_with_the_full_config(capsys) -> None:
    config = v3_oauth_config(api_url=V3_URL)
    config["cometly"] = {"api_key": "other-provider-key"}
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(_token_request(), _token_response(refresh_token="rt-2"))
        http_mocker.get(_lists_request("at-1"), HttpResponse(json.dumps(LISTS), 200))

        run_read(config, STREAM)

    [persisted] = control_configs(capsys.readouterr().out)
    credentials = persisted["constant_contact"]["credentials"]
    assert credentials["refresh_token"] == "rt-2"
    assert credentials["access_token"] == "at-1"
    assert credentials["token_expiry_date"]
    assert {k: v for k, v in credentials.items() if k not in ("refresh_token", "access_token", "token_expiry_date")} == {
        k: v for k, v in config["constant_contact"]["credentials"].items() if k != "refresh_token"
    }
    # The full config, other sections included: the platform replaces the stored config with it.
    assert persisted["cometly"] == {"api_key": "other-provider-key"}
    assert persisted["start_date"] == config["start_date"]
    assert persisted["constant_contact"]["api_url"] == V3_URL


def test_a_stored_unexpired_access_token_is_used_without_refreshing(capsys) -> None:
    config = v3_oauth_config()
    config["constant_contact"]["credentials"].update(access_token="at-stored", token_expiry_date="2999-01-01T00:00:00+00:00")
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_lists_request("at-stored"), HttpResponse(json.dumps(LISTS), 200))

        output = run_read(config, STREAM)

    assert len(output.records) == 1
    assert control_configs(capsys.readouterr().out) == []


def test_invalid_grant_is_a_config_error_asking_to_re_authenticate() -> None:
    with StrictHttpMocker() as http_mocker:
        http_mocker.post(
            _token_request(),
            HttpResponse(json.dumps({"error": "invalid_grant", "error_description": "The refresh token is invalid or expired."}), 400),
        )

        output = run_read(v3_oauth_config(), STREAM, expecting_exception=True)

    assert output.records == []
    assert {e.trace.error.failure_type for e in output.errors} == {FailureType.config_error}
    assert "Re-authenticate" in output.errors[0].trace.error.message


def test_a_401_refreshes_the_token_once_and_retries(capsys) -> None:
    config = v3_oauth_config()
    config["constant_contact"]["credentials"].update(access_token="at-revoked", token_expiry_date="2999-01-01T00:00:00+00:00")
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_lists_request("at-revoked"), HttpResponse(json.dumps({"error_key": "unauthorized"}), 401))
        http_mocker.post(_token_request(), _token_response(access_token="at-fresh", refresh_token="rt-2"))
        http_mocker.get(_lists_request("at-fresh"), HttpResponse(json.dumps(LISTS), 200))

        output = run_read(config, STREAM)

    assert [r.record.data["list_id"] for r in output.records] == ["l1"]
    assert control_configs(capsys.readouterr().out)[-1]["constant_contact"]["credentials"]["refresh_token"] == "rt-2"


def test_access_token_mode_sends_the_token_as_given_and_never_refreshes() -> None:
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_lists_request("test-v3-token"), HttpResponse(json.dumps(LISTS), 200))

        output = run_read(v3_access_token_config(), STREAM)

    assert len(output.records) == 1


def test_access_token_mode_fails_a_401_as_a_config_error_naming_the_fix_without_refreshing() -> None:
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(_lists_request("test-v3-token"), HttpResponse(json.dumps({"error_key": "unauthorized"}), 401))

        output = run_read(v3_access_token_config(), STREAM, expecting_exception=True)

    assert {e.trace.error.failure_type for e in output.errors} == {FailureType.config_error}
    assert output.errors[0].trace.error.message.startswith("Constant Contact v3 rejected the access token")
