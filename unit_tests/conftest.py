"""Unit tests never really sleep, and build sources without re-reading the CDK's component schema."""

import pytest

from tests.support.fixtures import SleepRecorder


@pytest.fixture(autouse=True)
def never_sleep(sleeps: SleepRecorder) -> SleepRecorder:
    """Retry backoff, the api_budget and export polling return at once; `sleeps.waits` keeps what they asked for."""
    return sleeps


@pytest.fixture(autouse=True)
def schema_read_once(component_schema_read_once: None) -> None:
    """Every source a unit test builds reuses the component schema read once per session."""
