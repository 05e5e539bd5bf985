"""A next link or cursor already seen in the same partition fails the stream instead of being followed for ever.

A broken API (or proxy) that hands back the page it just served would otherwise be read in a loop: the same records
again and again, calls spent, and no end.
"""

from dataclasses import InitVar, dataclass
from typing import Any, FrozenSet, Mapping, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.requesters.paginators.strategies.pagination_strategy import PaginationStrategy
from airbyte_cdk.sources.types import Record
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.messages import public_url

# Query parameters that are credentials, not part of which page a link names.
_CREDENTIALS = {"api_key"}


def page_key(link: Any) -> str:
    """Which page a link or cursor names: a URL's path and query without credentials, or the cursor itself."""
    text = str(link)
    if "/" not in text:
        return text
    parts = urlsplit(text)
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query) if k not in _CREDENTIALS))
    return f"{parts.path}?{query}"


class SeenPages(str):
    """A page token that remembers the pages of its partition read before it."""

    seen: FrozenSet[str]

    @classmethod
    def of(cls, token: Any, seen: FrozenSet[str]) -> "SeenPages":
        page = cls(token)
        page.seen = seen
        return page


def refuse_repeats(stream: str, response: requests.Response, token: Any, last_token: Any, own_page: Optional[str] = None) -> FrozenSet[str]:
    """The pages read before `token` in this partition (the answered one included); raises when `token` is one of them.

    own_page: the key of the page `response` answers, when its link can name it (a URL); a cursor API's first page
    has none."""
    seen = set(getattr(last_token, "seen", frozenset()))
    if last_token is not None:
        seen.add(page_key(last_token))
    if own_page is not None:
        seen.add(own_page)
    if page_key(token) in seen:
        message = (
            f"Stream {stream}: {public_url(response.url)} answered with a next page that this read has already been given "
            f"({len(seen)} pages into it); following it would read the same pages for ever, so the stream stops here (the "
            "state it saved stands). This is a fault of the API; try again later."
        )
        raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.transient_error)
    return frozenset(seen)


@dataclass
class RepeatRefusingPagination(PaginationStrategy):
    """`pagination` (the CDK's CursorPagination), failing the stream on a next page already read in the partition.

    links_are_urls: the tokens are links naming their page (v3 `_links.next.href`, v2 `next_link`), so a link back to
      the page just answered is caught at once; for cursors (Cometly), a repeat is caught when it is handed out again.
    """

    pagination: PaginationStrategy
    parameters: InitVar[Mapping[str, Any]]
    links_are_urls: bool = True

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = parameters.get("name", "")

    @property
    def initial_token(self) -> Optional[Any]:
        return self.pagination.initial_token

    def get_page_size(self) -> Optional[int]:
        return self.pagination.get_page_size()

    def next_page_token(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Optional[Record],
        last_page_token_value: Optional[Any] = None,
        page_size_override: Optional[int] = None,
    ) -> Optional[Any]:
        token = self.pagination.next_page_token(response, last_page_size, last_record, last_page_token_value, page_size_override)
        if token is None:
            return None
        own_page = page_key(response.request.url) if self.links_are_urls and response.request is not None else None
        return SeenPages.of(token, refuse_repeats(self._stream, response, token, last_page_token_value, own_page))
