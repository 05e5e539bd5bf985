"""cc_email_campaign_summaries: limit=500, records under bulk_email_campaign_summaries, `_links.next.href`
pagination, full refresh only."""

import json

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.entrypoint_wrapper import discover
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from source_contacts import SourceContacts
from tests.support.builders import V3_URL, StrictHttpMocker, run_read, v3_access_token_config

STREAM = "cc_email_campaign_summaries"
AUTH = {"Authorization": "Bearer test-v3-token"}
PATH = f"{V3_URL}/reports/summary_reports/email_campaign_summaries"


def _summary(campaign_id: str, last_sent_date: str, sends: int) -> dict:
    counts = {"sends": sends, "opens": sends // 2, "clicks": 7, "forwards": 1, "optouts": 2, "abuse": 0, "bounces": 3,
              "not_opened": sends - sends // 2 - 3}
    return {"campaign_id": campaign_id, "campaign_type": "Newsletter", "last_sent_date": last_sent_date, "unique_counts": counts}


def test_reads_every_page_of_summaries_and_leaves_the_page_aggregates_out() -> None:
    first = {"bulk_email_campaign_summaries": [_summary("e-2", "2025-04-25T11:08:00.000Z", 3129)],
             "aggregate_percents": {"click": 43.0, "open": 12.0, "did_not_open": 23.0, "bounce": 21.0, "unsubscribe": 2.0},
             "_links": {"next": {"href": "/v3/reports/summary_reports/email_campaign_summaries?cursor=sum-2"}}}
    second = {"bulk_email_campaign_summaries": [_summary("e-1", "2024-09-01T08:00:00.000Z", 40)],
              "aggregate_percents": {"click": 17.5, "open": 50.0, "did_not_open": 42.5, "bounce": 7.5, "unsubscribe": 5.0}}
    with StrictHttpMocker() as http_mocker:
        http_mocker.get(HttpRequest(PATH, query_params={"limit": "500"}, headers=AUTH), HttpResponse(json.dumps(first), 200))
        http_mocker.get(HttpRequest(PATH, query_params={"cursor": "sum-2"}, headers=AUTH), HttpResponse(json.dumps(second), 200))

        output = run_read(v3_access_token_config(), STREAM)

    assert [r.record.data for r in output.records] == first["bulk_email_campaign_summaries"] + second["bulk_email_campaign_summaries"]


def test_discover_offers_full_refresh_only() -> None:
    config = v3_access_token_config()

    output = discover(SourceContacts(catalog=None, config=config, state=None), config)

    [summaries] = [s for s in output.catalog.catalog.streams if s.name == STREAM]
    assert summaries.supported_sync_modes == [SyncMode.full_refresh]
    assert summaries.source_defined_primary_key == [["campaign_id"]]
