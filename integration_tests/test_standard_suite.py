"""The CDK's standard source tests (what `airbyte-cdk connector test` runs), against the emulator.

The `test_docker_image_*` tests need a Docker engine; `make test` deselects them where none answers.
"""

import json
from pathlib import Path
from typing import Iterator

import pytest
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase

from emulator import Emulator
from source_contacts import SourceContacts

SECRETS = Path(__file__).parent / "secrets"


def _with_wrong_secrets(config: dict) -> dict:
    """The same providers with every secret replaced: each API answers 401."""
    wrong = json.loads(json.dumps(config))
    for section in wrong.values():
        if isinstance(section, dict):
            for key in ("api_key", "access_token"):
                if key in section:
                    section[key] = "wrong-" + key
            if "credentials" in section:
                section["credentials"] = {"auth_type": "access_token", "access_token": "wrong-access-token"}
    return wrong


@pytest.fixture(scope="module", autouse=True)
def emulator_configs() -> Iterator[None]:
    """Starts one emulator for the suite and writes the config files acceptance-test-config.yml names."""
    # 20 campaigns: the engagement streams read every report of every sent activity, at 4 calls a second.
    with Emulator(sizes={"cc_v3_campaigns": 20}) as emu:
        config = emu.config()
        if "constant_contact" in config:
            # Refresh tokens are single use and the suite reuses one config file: use a fixed access token.
            config["constant_contact"]["credentials"] = {"auth_type": "access_token", "access_token": emu.issue_access_token()}
        SECRETS.mkdir(exist_ok=True)
        (SECRETS / "config.json").write_text(json.dumps(config))
        # The same config for basic_read, whose scenario carries a catalog: the suite passes it to `spec` too otherwise.
        (SECRETS / "read_config.json").write_text(json.dumps(config))
        (SECRETS / "invalid_config.json").write_text(json.dumps(_with_wrong_secrets(config)))
        (SECRETS / "no_provider_config.json").write_text(json.dumps({"start_date": config["start_date"]}))
        yield


class TestSourceContacts(SourceTestSuiteBase):
    connector = SourceContacts
