"""A large page of records parsed in pieces, so that parsing it costs little more memory than its records.

orjson parses a whole body into a working document before it builds the Python objects: a 5 MB page of 5,000
Cometly contacts peaks 20 MB above where it started, twice what its records take. Parsed a few hundred KB at a time,
the same page peaks 11 MB above, which is what keeps a sync under 100 MB (see benchmarks/results.md).
"""

import re
from typing import Any, List, Optional

import orjson

# JSON's whitespace (not Python's \s, which also takes \f and \v)
_WS = rb"[ \t\n\r]*"
# `{"data":[{"id"` at the very start: the page's first key holds an array of objects. The first record's first key
# marks where each next record starts (nested objects rarely start with it, and a string cannot hold `{"id"` unescaped).
_FIRST_KEY_RECORDS = re.compile(
    rb"\A" + _WS + rb"\{" + _WS + rb'"(?P<key>[^"\\]*)"' + _WS + rb":" + _WS + rb"\[" + _WS
    + rb'(?P<record>\{)' + _WS + rb'"(?P<record_key>[^"\\]*)"'
)
_LAST_OBJECT_END = re.compile(rb"\}" + _WS + rb"\]")

PIECE_BYTES = 256 * 1024
# a cut that does not parse (in a nested object starting with the same key) is moved to the next one this many times
# in a row, and as many ends of the array are tried from the back, before the page is parsed whole
_ATTEMPTS = 8


def loads_json_page(body: bytes, piece_bytes: int = PIECE_BYTES) -> Any:
    """`orjson.loads(body)`: the same value, or the same error.

    When the body is a large object whose first key holds an array of objects (`{"data":[{...},{...}],...}`), the
    array is parsed in pieces of about `piece_bytes`, cut between two of its objects, and the rest of the object
    with `[]` in its place. Every byte is parsed by one of them, so the body is valid JSON exactly when they all
    parse, and its value is theirs put together. Any other body, or cuts that do not parse, are parsed whole.
    """
    if len(body) > 4 * piece_bytes:
        page = _loads_in_pieces(body, piece_bytes)
        if page is not None:
            return page
    return orjson.loads(body)


def _loads_in_pieces(body: bytes, piece_bytes: int) -> Optional[Any]:
    start = _FIRST_KEY_RECORDS.match(body)
    if not start:
        return None
    key = start["key"]
    next_record = re.escape(b'"' + start["record_key"] + b'"')
    between_records = re.compile(rb"\}" + _WS + rb"," + _WS + rb"(?=\{" + _WS + next_record + rb")")
    records: List[Any] = []
    piece_start = start.start("record")
    misplaced = 0
    search_from = piece_start + piece_bytes
    while True:
        between = between_records.search(body, search_from)
        if not between:
            break
        piece = _loads_array(body, piece_start, between.start() + 1)
        if piece is None:
            misplaced += 1
            if misplaced > _ATTEMPTS:
                return None
            search_from = between.end()
            continue
        records += piece
        misplaced = 0
        piece_start = between.end()
        search_from = piece_start + piece_bytes
    for end in list(_LAST_OBJECT_END.finditer(body, piece_start))[::-1][:_ATTEMPTS]:
        last = _loads_array(body, piece_start, end.start() + 1)
        if last is None:
            continue
        tail = body[end.end() :]
        if b'"' + key + b'"' in tail:  # the key again: its last value is the one that counts
            return None
        try:
            page = orjson.loads(body[: start.end("key") + 1] + b":[]" + tail)
        except orjson.JSONDecodeError:
            return None
        records += last
        page[orjson.loads(b'"' + key + b'"')] = records
        return page
    return None


def _loads_array(body: bytes, start: int, end: int) -> Optional[List[Any]]:
    """The objects in body[start:end] as a list, or None when they are not a comma-separated run of JSON values."""
    try:
        return orjson.loads(b"[" + body[start:end] + b"]")
    except orjson.JSONDecodeError:
        return None
