"""Unit tests never really sleep, and build sources without re-reading the CDK's component schema or re-preparing
the manifest."""

import pytest

from tests.support.fixtures import SleepRecorder


@pytest.fixture(autouse=True)
def never_sleep(sleeps: SleepRecorder) -> SleepRecorder:
    """Retry backoff, the api_budget and export polling return at once; `sleeps.waits` keeps what they asked for."""
    return sleeps


@pytest.fixture(autouse=True)
def manifest_prepared(manifest_prepared_once: None) -> None:
    """Every source a unit test builds reuses the component schema and the manifest prepared once per session."""
