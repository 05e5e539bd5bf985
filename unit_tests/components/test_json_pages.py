"""components/json_pages.py: a large page parsed in pieces gives what orjson gives for the whole body, value or error."""

import json
from typing import Any, List

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from source_contacts.components import json_pages
from source_contacts.components.json_pages import loads_json_page

# Text that looks like the places the page is cut at, inside strings and nested objects
TRICKY = ['},{"id":1}', '}, {"id"', "}]", '"', "\\", "{", "},{", "\u00e9\u4e2d\U0001f600", "\n"]
text = st.one_of(st.text(max_size=12), st.lists(st.sampled_from(TRICKY), max_size=4).map("".join))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=False, allow_infinity=False), text)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)), max_leaves=4)
# records start with the key the cuts look for; some hold nested objects that start with it too
records = st.builds(lambda first, rest, nested: {"id": first, **rest, **({"tags": [{"id": 1}, {"id": nested}]} if nested else {})},
                    values, st.dictionaries(text.filter(lambda k: k not in ("id", "tags")), values, max_size=3), st.one_of(st.none(), values))
pages = st.builds(lambda data, rest: {"data": data, **rest}, st.lists(records, max_size=15),
                  st.dictionaries(text.filter(lambda k: k != "data"), values, max_size=3))
layouts = st.sampled_from([dict(separators=(",", ":")), dict(separators=(", ", ": ")), dict(indent=2), dict(indent="\t", ensure_ascii=False)])


def dumped(page: Any, layout: dict) -> bytes:
    return json.dumps(page, **layout).encode()


def outcome(parse: Any, body: bytes) -> Any:
    try:
        return ("value", parse(body))
    except orjson.JSONDecodeError:
        return ("error", None)


@settings(max_examples=80, deadline=None)
@given(pages, layouts, st.integers(1, 400))
def test_a_page_parsed_in_pieces_is_the_page_parsed_whole(page, layout, piece_bytes):
    body = dumped(page, layout)
    assert loads_json_page(body, piece_bytes) == orjson.loads(body) == page
    if page["data"] and len(body) > 4 * piece_bytes:
        assert json_pages._loads_in_pieces(body, piece_bytes) == page  # read in pieces, not parsed whole after all


@settings(max_examples=80, deadline=None)
@given(pages, layouts, st.integers(1, 200), st.data())
def test_a_broken_page_fails_as_the_whole_parse_fails(page, layout, piece_bytes, data):
    body = bytearray(dumped(page, layout))
    if data.draw(st.booleans(), label="cut"):
        body = body[: data.draw(st.integers(0, len(body)), label="at")]
    else:  # one byte replaced: an invalid UTF-8 byte, a quote, a bracket, JSON's forbidden \f ...
        at = data.draw(st.integers(0, len(body) - 1), label="at")
        body[at] = data.draw(st.sampled_from(b'\xff\x80"{}[],:\x0c\x0b 0a'), label="byte")
    assert outcome(lambda b: loads_json_page(b, piece_bytes), bytes(body)) == outcome(orjson.loads, bytes(body))


def test_the_records_key_given_again_keeps_its_last_value():
    body = b'{"data":[' + b",".join(b'{"id":%d}' % i for i in range(50)) + b'],"data":[{"id":"last"}]}'
    assert loads_json_page(body, 16) == orjson.loads(body) == {"data": [{"id": "last"}]}


def contacts_page(count: int) -> bytes:
    """The shape of a Cometly page: compact, records first, the cursor after."""
    contacts = [{"id": i, "email": f"c{i}@example.com", "tags": [{"id": i, "name": "vip"}, {"id": -i, "name": "new"}], "note": '"},{"id":'} for i in range(count)]
    return orjson.dumps({"data": contacts, "next_cursor": "eyJpZCI6OTl9", "per_page": count})


def test_a_large_page_is_parsed_a_piece_at_a_time(monkeypatch):
    parsed: List[int] = []
    real_loads = orjson.loads

    class CountingOrjson:
        JSONDecodeError = orjson.JSONDecodeError

        @staticmethod
        def loads(body: bytes) -> Any:
            parsed.append(len(body))
            return real_loads(body)

    monkeypatch.setattr(json_pages, "orjson", CountingOrjson)
    body = contacts_page(5_000)
    page = loads_json_page(body, piece_bytes=32 * 1024)

    assert page == real_loads(body)
    assert [record["id"] for record in page["data"]] == list(range(5_000))
    # every piece is a few records past 32 KB (some cut inside a record's tags first), and together they are the body
    assert len(body) > 500 * 1024 and len(parsed) > len(body) // (32 * 1024) and max(parsed) < 33 * 1024
    assert sum(parsed) >= len(body)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" + b",".join(b'{"id":%d}' % i for i in range(2000)) + b"]", id="a top-level array"),
        pytest.param(b'{"meta":{"n":2000},"results":[' + b",".join(b'{"id":%d}' % i for i in range(2000)) + b"]}", id="records not under the first key"),
        pytest.param(b'{"data":[' + b",".join(b"%d" % i for i in range(5000)) + b"]}", id="an array of numbers"),
    ],
)
def test_other_large_bodies_are_parsed_whole(body, monkeypatch):
    parsed: List[int] = []
    real_loads = orjson.loads
    monkeypatch.setattr(json_pages, "orjson", type("Spy", (), {"JSONDecodeError": orjson.JSONDecodeError, "loads": staticmethod(lambda b: parsed.append(len(b)) or real_loads(b))}))
    assert loads_json_page(body, piece_bytes=1024) == real_loads(body)
    assert parsed == [len(body)]
