"""Unit tests never really sleep."""

import pytest

from tests.support.fixtures import SleepRecorder


@pytest.fixture(autouse=True)
def never_sleep(sleeps: SleepRecorder) -> SleepRecorder:
    """Retry backoff, the api_budget and export polling return at once; `sleeps.waits` keeps what they asked for."""
    return sleeps

