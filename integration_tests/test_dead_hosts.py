"""`check` against hosts that cannot be reached, through the console script with the real retry timings (about 30
and 40 s; this file runs beside the others): FAILED naming the host, never a rate limit, no secret printed."""

import re
from pathlib import Path

from emulator import Emulator
from tests.support.builders import emulator_v3_config
from tests.support.console import connection_status, run_console

SECRETS = ("k-secret-v2-key", "t-secret-v2-token", "emu-client-secret")


def test_check_against_a_refusing_v2_host_fails_naming_it_and_printing_no_secret(closed_port: int, tmp_path: Path) -> None:
    config = {"constant_contact_v2": {"api_key": SECRETS[0], "access_token": SECRETS[1], "api_url": f"http://127.0.0.1:{closed_port}/v2"}}

    result = run_console("check", config, tmp_path)

    status = connection_status(result.stdout)
    assert status["status"] == "FAILED"
    # 6 attempts: the sixth refusal is the first one 30 s or more after the first (the waits are 1, 2, 4, 8, 16 s).
    assert re.fullmatch(
        f"Constant Contact v2: Stream cc_v2_lists is not available: Stream cc_v2_lists: could not reach 127.0.0.1:{closed_port} "
        r"\(the connection failed: Connection refused\) in 6 attempts over 3\d s\. Check the host in the config \(api_url, "
        r"token_url\) and that this network can reach it\.",
        status["message"],
    )
    output = result.stdout + result.stderr
    assert "rate limit" not in output.lower() and not [secret for secret in SECRETS if secret in output]


def test_check_with_a_refusing_oauth_token_host_fails_in_40_s_naming_the_setting(emulator: Emulator, closed_port: int, tmp_path: Path) -> None:
    # The CDK retries a token request that cannot connect for 5 minutes; check gives up after 40 s and says why.
    config = emulator_v3_config(emulator, token_url=f"http://127.0.0.1:{closed_port}/oauth2/default/v1/token")

    result = run_console("check", config, tmp_path)

    assert connection_status(result.stdout) == {
        "status": "FAILED",
        "message": f"Constant Contact v3: no answer in 40 s: could not reach 127.0.0.1:{closed_port} (the connection failed: "
                   "Connection refused), the host of constant_contact.token_url. Check that setting and that this network can reach the host.",
    }
    assert emulator.requests.snapshot() == [] and SECRETS[2] not in result.stdout + result.stderr
