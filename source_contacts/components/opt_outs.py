"""cc_contacts' opt-outs: after each window's pages, the contacts who opted out in it without being re-stamped."""

from dataclasses import InitVar, dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from airbyte_cdk.sources.declarative.requesters.paginators.strategies.pagination_strategy import PaginationStrategy
from airbyte_cdk.sources.types import Config, Record

from source_contacts.components.repeat_refusing_pagination import SeenPages, page_key, refuse_repeats


class _WindowQueryPage(SeenPages):
    """A page link of one window's query; as a str it is the request path, and it remembers which query it pages
    (and, as every SeenPages, the pages read before it)."""

    window_query: str  # URL of the first page of the window's updated_at query
    opt_outs: bool  # whether this pages the window's opt-out query

    @classmethod
    def following(cls, stream: str, response: requests.Response, link: str, last: Any, window_query: str, opt_outs: bool) -> "_WindowQueryPage":
        page = cls.of(link, refuse_repeats(stream, response, link, last, page_key(response.request.url)))
        page.window_query, page.opt_outs = window_query, opt_outs
        return page


@dataclass
class OptOutsPagination(PaginationStrategy):
    """Follows `_links.next.href`; after a window's last page, reads the contacts who opted out in that window.

    Constant Contact can leave a contact's `updated_at` alone when its email opts out, so `updated_after` misses
    the opt-out. After the window's `updated_after=A&updated_before=B` query comes the same query with
    `optout_after=A&optout_before=B&updated_before=A`: the contacts who opted out in the window and whose
    `updated_at` is older than it. The others are read anyway: by this window's query, or by the later window that
    holds their `updated_at`. So no opt-out is missed, none is read twice, and no contact of the opt-out query can
    move the state past data not read yet. The query each page belongs to travels in the page token, as the CDK
    wants of a strategy that paginates several partitions at once.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = parameters.get("name", "")

    @property
    def initial_token(self) -> Optional[Any]:
        return None

    def get_page_size(self) -> Optional[int]:
        return None

    def next_page_token(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Optional[Record],
        last_page_token_value: Optional[Any] = None,
        page_size_override: Optional[int] = None,
    ) -> Optional[_WindowQueryPage]:
        window_query = getattr(last_page_token_value, "window_query", None) or response.request.url
        opt_outs = getattr(last_page_token_value, "opt_outs", False)
        link = ((response.json().get("_links") or {}).get("next") or {}).get("href")
        if link:
            return _WindowQueryPage.following(self._stream, response, link, last_page_token_value, window_query, opt_outs)
        if opt_outs:
            return None
        return _WindowQueryPage.following(self._stream, response, opt_outs_query(window_query), last_page_token_value, window_query, opt_outs=True)


def opt_outs_query(window_query: str) -> str:
    """`/v3/contacts?...&updated_after=A-1s&updated_before=B` (the window [A, B) sent one second wider) -> the same path
    and query for the contacts who opted out in it and were last updated before A:
    optout_after=A-1s&optout_before=B&updated_before=A."""
    url = urlsplit(window_query)
    query = dict(parse_qsl(url.query))
    after = query.pop("updated_after")
    start = (datetime.strptime(after, "%Y-%m-%dT%H:%M:%SZ") + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    query.update(optout_after=after, optout_before=query["updated_before"], updated_before=start)
    return f"{url.path}?{urlencode(query)}"
