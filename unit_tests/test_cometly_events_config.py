"""The Cometly events options in the spec: a violation names the key and, for an enum, the allowed values."""

import logging

from source_contacts import SourceContacts
from source_contacts.source import describe_spec_violation
from tests.support.builders import cometly_config

SPEC = SourceContacts().spec(logging.getLogger("airbyte")).connectionSpecification


def _attribution(model: str = "linear", window_days: int = 7, sources: list = ["x_ads"]) -> dict:
    return cometly_config(attribution={"model": model, "window_days": window_days, "sources": sources})


def test_a_valid_events_config_passes() -> None:
    config = cometly_config(event_names=["purchase", "custom_event_50"], events_window_days=30)
    config["cometly"]["attribution"] = {"model": "first_touch", "window_days": 0, "sources": ["facebook_ads"]}
    assert describe_spec_violation(config, SPEC) is None


def test_an_unknown_model_window_or_event_name_names_the_key_and_the_allowed_values() -> None:
    model = describe_spec_violation(_attribution(model="last"), SPEC)
    assert model.startswith("Config key cometly.attribution.model:") and "'last_touch'" in model and "'u_shaped'" in model
    window = describe_spec_violation(_attribution(window_days=3), SPEC)
    assert window.startswith("Config key cometly.attribution.window_days:") and "[0, 1, 7, 14, 30, 60, 90]" in window
    name = describe_spec_violation(cometly_config(event_names=["purchase", "buy"]), SPEC)
    assert name.startswith("Config key cometly.event_names.1:") and "'custom_event_50'" in name


def test_duplicates_too_many_sources_and_a_missing_part_name_the_key() -> None:
    assert "non-unique" in describe_spec_violation(cometly_config(event_names=["purchase", "purchase"]), SPEC)
    assert describe_spec_violation(_attribution(sources=[f"s{n}" for n in range(16)]), SPEC).startswith("Config key cometly.attribution.sources:")
    missing = describe_spec_violation(cometly_config(attribution={"model": "linear", "window_days": 7}), SPEC)
    assert missing.startswith("Config key cometly.attribution:") and "'sources' is a required property" in missing
    assert describe_spec_violation(cometly_config(events_window_days=366), SPEC).startswith("Config key cometly.events_window_days:")
