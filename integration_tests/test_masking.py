"""No secret in anything the console script prints, --debug included (its lines hold URLs and response bodies): keys,
tokens, client credentials and the signing values of presigned download URLs; only CONTROL carries the config."""

import base64
from pathlib import Path
from typing import Callable, List

import pytest

from emulator import Emulator
from tests.support.builders import emulator_cometly_config, emulator_v2_config, emulator_v3_config
from tests.support.console import read_via_console


def secrets_of(emulator: Emulator) -> List[str]:
    """Every credential the emulator knows or handed out, and the signing values of the download URLs it signed."""
    presigned = [r.query[key] for r in emulator.file_requests for key in ("X-Amz-Signature", "X-Amz-Credential") if key in r.query]
    tokens = list(emulator.oauth._access) + list(emulator.oauth._refresh)
    basic = base64.b64encode(b"emu-client-id:emu-client-secret").decode()
    return ["emu-v2-api-key", "emu-v2-access-token", "emu-cometly-key", "emu-client-id", "emu-client-secret", basic, *tokens, *presigned]


def v2_faults(emulator: Emulator) -> dict:
    emulator.faults.server_error("/v2/lists/1/contacts", times=1, status=500)
    emulator.faults.spoil_answers("/v2/lists/1/contacts?next=", times=1, kind="html")
    return emulator_v2_config(emulator, list_ids=["1", "99"])


def cometly_download_faults(emulator: Emulator) -> dict:
    emulator.faults.expire_download_urls(1)
    emulator.faults.server_error(".ndjson.gz", times=100, status=404)
    return emulator_cometly_config(emulator, window_days=365)


def v3_refresh_midway(emulator: Emulator) -> dict:
    emulator.faults.access_token_ttl = 0  # every access token is refused once used: a refresh on each 401
    return emulator_v3_config(emulator)


@pytest.mark.parametrize(
    "stream, configured",
    [("cc_v2_list_contacts", v2_faults), ("cometly_contacts_export", cometly_download_faults), ("cc_contact_lists", v3_refresh_midway)],
)
def test_debug_output_of_a_faulty_read_holds_no_secret(emulator: Emulator, tmp_path: Path, stream: str, configured: Callable) -> None:
    config = configured(emulator)

    result = read_via_console(config, stream, tmp_path, "full_refresh", None, "--debug")

    debug_lines = [line for line in result.stdout.splitlines() if line.startswith('{"type": "DEBUG"')]
    assert [line for line in debug_lines if '"message": "Receiving response"' in line]  # --debug printed response bodies
    printed = [line for line in result.stdout.splitlines() + result.stderr.splitlines() if '"type":"CONTROL"' not in line]
    secrets = secrets_of(emulator)
    assert {secret for secret in secrets for line in printed if secret in line} == set()
    assert result.returncode == 1 and len(secrets) > 6  # each scenario ends failed, after tokens or signed URLs were handed out
