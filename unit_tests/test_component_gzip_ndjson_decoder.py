"""GzipNdjsonDecoder: streamed orjson decoding; truncated files and broken lines fail naming the line."""

import gzip
import io

import pytest
import requests

from source_contacts.components.cometly import ExportFileError, GzipNdjsonDecoder


def response(body: bytes) -> requests.Response:
    answer = requests.Response()
    answer.status_code = 200
    answer.raw = io.BytesIO(body)
    return answer


def decode(body: bytes) -> list:
    return list(GzipNdjsonDecoder(parameters={"name": "cometly_contacts_export"}).decode(response(body)))


LINES = b'{"id":1,"created_at":"2024-01-15T10:23:45.000000Z","comet_tokens":["a","b"]}\n{"id":2,"name":"Zo\xc3\xab"}\n'


def test_decodes_each_line_into_a_record() -> None:
    assert decode(gzip.compress(LINES)) == [
        {"id": 1, "created_at": "2024-01-15T10:23:45.000000Z", "comet_tokens": ["a", "b"]},
        {"id": 2, "name": "Zoë"},
    ]


def test_streams_from_the_raw_body() -> None:
    decoder = GzipNdjsonDecoder(parameters={})
    assert decoder.is_stream_response() is True


@pytest.mark.parametrize("body", [b"", gzip.compress(b""), gzip.compress(b"\n")])
def test_empty_export_is_zero_records(body: bytes) -> None:
    assert decode(body) == []


def test_truncated_gzip_fails_naming_the_last_good_line() -> None:
    many = b"".join(b'{"id":%d,"pad":"%s"}\n' % (i, b"x" * 40) for i in range(2000))
    blob = gzip.compress(many)
    records = []
    with pytest.raises(ExportFileError) as error:
        for record in GzipNdjsonDecoder(parameters={"name": "cometly_contacts_export"}).decode(response(blob[: len(blob) // 2])):
            records.append(record)
    assert "cometly_contacts_export" in error.value.message and "truncated" in error.value.message
    assert f"after line {len(records)} " in error.value.message
    assert [r["id"] for r in records] == list(range(len(records)))


def test_malformed_line_fails_naming_it() -> None:
    with pytest.raises(ExportFileError, match=r"line 2 of the export file is not valid JSON"):
        decode(gzip.compress(b'{"id":1}\n{"id":2,"na\n{"id":3}\n'))


def test_a_line_that_is_not_an_object_fails() -> None:
    with pytest.raises(ExportFileError, match=r"line 1 of the export file is not a JSON object"):
        decode(gzip.compress(b'[1, 2]\n'))
