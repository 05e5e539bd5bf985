"""The manifest's api_budget: which requests each documented limit counts, and that a 429 leaves pacing to Retry-After."""

import copy
from pathlib import Path

import pytest
import requests
import yaml

from airbyte_cdk.sources.declarative.models.declarative_component_schema import HTTPAPIBudget as HTTPAPIBudgetModel
from airbyte_cdk.sources.declarative.parsers.model_to_component_factory import ModelToComponentFactory
from airbyte_cdk.sources.streams.call_rate import CallRateLimitHit

MANIFEST = Path(__file__).parent.parent / "source_contacts" / "manifest.yaml"
COMETLY = "https://app.cometly.com/public-api/v1"


@pytest.fixture(scope="module")
def budget_definition() -> dict:
    """The manifest's api_budget block, read once for the module."""
    return yaml.safe_load(MANIFEST.read_text())["api_budget"]


@pytest.fixture
def budget(budget_definition: dict):
    """A fresh budget from the manifest's definition: every test starts with all calls available."""
    return ModelToComponentFactory().create_component(HTTPAPIBudgetModel, copy.deepcopy(budget_definition), config={})


def request(method: str, url: str) -> requests.PreparedRequest:
    return requests.Request(method, url).prepare()


def calls_allowed(budget, method: str, url: str, up_to: int = 100) -> int:
    """How many calls in a row the budget grants at once (stops at the first refusal)."""
    for n in range(up_to):
        try:
            budget.acquire_call(request(method, url), block=False)
        except CallRateLimitHit:
            return n
    return up_to


@pytest.mark.parametrize(
    "method, url, limit",
    [
        ("POST", f"{COMETLY}/contacts/exports", 5),
        ("GET", f"{COMETLY}/contacts/exports/123", 30),
        ("GET", f"{COMETLY}/contacts", 15),
        ("GET", "https://api.cc.email/v3/contacts", 4),
        ("POST", "https://api.cc.email/v3/activities/contact_exports", 4),
        ("POST", "https://authz.constantcontact.com/oauth2/default/v1/token", 100),
        ("GET", "https://api.constantcontact.com/v2/lists", 4),
        ("GET", "https://cometly-exports.s3.amazonaws.com/exports/1.ndjson.gz", 100),
    ],
)
def test_each_documented_limit_counts_its_requests(budget, method: str, url: str, limit: int) -> None:
    assert calls_allowed(budget, method, url) == limit


def test_cc_v2_and_v3_have_separate_budgets(budget) -> None:
    assert calls_allowed(budget, "GET", "https://api.cc.email/v3/contacts") == 4
    assert calls_allowed(budget, "GET", "https://api.constantcontact.com/v2/lists") == 4


def test_a_429_does_not_empty_the_budget(budget) -> None:
    create = request("POST", f"{COMETLY}/contacts/exports")
    budget.acquire_call(create, block=False)
    refused = requests.Response()
    refused.status_code, refused.headers["Retry-After"] = 429, "1"
    budget.update_from_response(create, refused)
    # Retry-After (in the error handler) decides the wait; the budget still grants the other 4 calls.
    assert calls_allowed(budget, "POST", f"{COMETLY}/contacts/exports") == 4
