"""The v3 warehouse streams against the emulator: exact records, full and incremental, and the ids that join them to cc_contacts."""

from typing import Callable, List

import pytest
from airbyte_cdk.models import SyncMode

from emulator import Emulator
from tests.support.builders import emulator_v3_config, final_state, run_read, second_before, sorted_ids, state_for_next_read

PRIMARY_KEYS = {"cc_contact_custom_fields": "custom_field_id", "cc_contact_tags": "tag_id", "cc_segments": "segment_id",
                "cc_email_campaigns": "campaign_id", "cc_email_campaign_summaries": "campaign_id"}


def ground_truth(emulator: Emulator, stream: str) -> List[dict]:
    """What the stream must emit, from the emulator's data (every record is newer than the config's start_date)."""
    data = emulator.data
    if stream == "cc_contact_tags":   # asked with include_count=true
        counts = data.v3_tag_counts()
        return [{**tag, "contacts_count": counts[tag["tag_id"]]} for tag in data.cc_v3_tags]
    return {"cc_contact_custom_fields": data.cc_v3_custom_fields, "cc_segments": data.cc_v3_segments,
            "cc_email_campaigns": data.cc_v3_campaigns, "cc_email_campaign_summaries": data.cc_v3_campaign_summaries}[stream]


def by_key(records: List[dict], key: str) -> List[dict]:
    return sorted(records, key=lambda record: record[key])


@pytest.mark.parametrize(
    "stream, path, page_size",
    [
        ("cc_contact_custom_fields", "/v3/contact_custom_fields", 100),
        ("cc_contact_tags", "/v3/contact_tags", 500),
        ("cc_segments", "/v3/segments", 1000),
        ("cc_email_campaigns", "/v3/emails", 500),
        ("cc_email_campaign_summaries", "/v3/reports/summary_reports/email_campaign_summaries", 500),
    ],
)
def test_full_refresh_emits_exactly_the_ground_truth(emulator: Emulator, stream: str, path: str, page_size: int) -> None:
    key = PRIMARY_KEYS[stream]

    output = run_read(emulator_v3_config(emulator, access_token=True), stream)

    expected = ground_truth(emulator, stream)
    assert by_key([r.record.data for r in output.records], key) == by_key(expected, key)
    assert len(emulator.requests.matching(path)) == -(-len(expected) // page_size)


def test_campaigns_include_the_removed_ones_and_summaries_only_sent_campaigns(emulator: Emulator) -> None:
    config = emulator_v3_config(emulator, access_token=True)

    campaigns = run_read(config, "cc_email_campaigns")
    summaries = run_read(config, "cc_email_campaign_summaries")

    status = {r.record.data["campaign_id"]: r.record.data["current_status"] for r in campaigns.records}
    assert sum(s == "Removed" for s in status.values()) == sum(c["current_status"] == "Removed" for c in emulator.data.cc_v3_campaigns) > 0
    assert {status[r.record.data["campaign_id"]] for r in summaries.records} == {"Done", "Removed"}
    # The first request asks for campaigns updated since start_date; the next pages carry it in their cursor.
    assert [r.query for r in emulator.requests.matching("/v3/emails")][0] == {"limit": "500", "after_date": "2023-12-31T23:59:59Z"}


def _second(stamp: str) -> str:
    """An RFC 3339 stamp cut to the second, as the state saves it ('...:07.669Z' -> '...:07Z')."""
    return stamp[:19] + "Z"


@pytest.mark.parametrize(
    "stream, records, cursor_field, touch",
    [
        ("cc_contact_custom_fields", lambda data: data.cc_v3_custom_fields, "updated_at", Emulator.touch_v3_custom_fields),
        ("cc_contact_tags", lambda data: data.cc_v3_tags, "updated_at", Emulator.touch_v3_tags),
        ("cc_segments", lambda data: data.cc_v3_segments, "edited_at", Emulator.touch_v3_segments),
        ("cc_email_campaigns", lambda data: data.cc_v3_campaigns, "updated_at", Emulator.touch_v3_campaigns),
    ],
)
def test_second_incremental_read_returns_exactly_the_changed_and_the_inclusive_boundary(
    emulator: Emulator, stream: str, records: Callable, cursor_field: str, touch: Callable
) -> None:
    config, key = emulator_v3_config(emulator, access_token=True), PRIMARY_KEYS[stream]
    first = run_read(config, stream, SyncMode.incremental)
    saved = _second(max(r[cursor_field] for r in records(emulator.data)))
    assert final_state(first) == {cursor_field: saved}
    assert len(first.records) == len(records(emulator.data))
    # Records in the saved second are read again (inclusive cursor); the seeded data has two there.
    boundary = [r[key] for r in records(emulator.data) if _second(r[cursor_field]) >= saved]
    assert len(boundary) >= 2

    touched = [r[key] for r in records(emulator.data)[:2]]
    touch(emulator, touched)
    second = run_read(config, stream, SyncMode.incremental, state=state_for_next_read(first))

    assert sorted_ids(second, key) == sorted(set(touched) | set(boundary))
    assert final_state(second) == {cursor_field: _second(max(r[cursor_field] for r in records(emulator.data)))}


def test_a_campaign_deleted_after_a_read_comes_back_removed_in_the_next(emulator: Emulator) -> None:
    config = emulator_v3_config(emulator, access_token=True)
    first = run_read(config, "cc_email_campaigns", SyncMode.incremental)
    live = next(c for c in emulator.data.cc_v3_campaigns if c["current_status"] == "Done")

    emulator.remove_v3_campaigns([live["campaign_id"]])
    emulator.reset_log()
    second = run_read(config, "cc_email_campaigns", SyncMode.incremental, state=state_for_next_read(first))

    [request] = emulator.requests.matching("/v3/emails")
    assert request.query == {"limit": "500", "after_date": second_before(final_state(first)["updated_at"])}
    removed = [r.record.data for r in second.records if r.record.data["campaign_id"] == live["campaign_id"]]
    assert removed == [{**live, "current_status": "Removed"}]


def test_contacts_custom_fields_and_taggings_join_the_new_streams(emulator: Emulator) -> None:
    config = emulator_v3_config(emulator, access_token=True)

    # A contact who opted out after its last update comes twice: count each once.
    contacts = list({r.record.data["contact_id"]: r.record.data for r in run_read(config, "cc_contacts").records}.values())
    fields = set(sorted_ids(run_read(config, "cc_contact_custom_fields"), "custom_field_id"))
    tags = {r.record.data["tag_id"]: r.record.data["contacts_count"] for r in run_read(config, "cc_contact_tags").records}
    campaigns = set(sorted_ids(run_read(config, "cc_email_campaigns"), "campaign_id"))
    summarized = set(sorted_ids(run_read(config, "cc_email_campaign_summaries"), "campaign_id"))

    used_fields = {value["custom_field_id"] for contact in contacts for value in contact["custom_fields"]}
    taggings = [tag_id for contact in contacts for tag_id in contact["taggings"]]
    assert used_fields and used_fields <= fields
    # Every tagging names a tag, and each tag's contacts_count is the number of contacts carrying it.
    assert {tag_id: taggings.count(tag_id) for tag_id in tags} == tags and set(taggings) <= set(tags)
    assert summarized and summarized <= campaigns
