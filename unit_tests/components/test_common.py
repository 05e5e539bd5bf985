"""components/common.py: slice_location, ExportSliceRecordFilter (partition fields, cursor floor, slice named on failure),
to_rfc3339 and SpooledDownloadRequester (the whole file on disk, downloads cut half way started again)."""

import gzip
import io
import zlib
from typing import Iterator

import pytest
import requests_mock

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.datetimes import to_rfc3339
from source_contacts.components.export_records import ExportSliceRecordFilter
from source_contacts.components.messages import slice_location
from source_contacts.components.spooled_download import SpooledDownloadRequester, expected_records
from tests.support.fixtures import SleepRecorder

# ---------------------------------------------------------------- slice_location


def test_a_window_is_named_by_its_bounds_even_with_a_partition() -> None:
    window = {"start_time": "2024-01-01T00:00:00Z", "end_time": "2024-01-30T23:59:59Z"}
    assert slice_location(StreamSlice(partition={"list_id": "1"}, cursor_slice=window)) == window


def test_a_list_partition_is_named_by_its_id() -> None:
    assert slice_location(StreamSlice(partition={"list_id": "7"}, cursor_slice={})) == {"list_id": "7"}


def test_no_slice_is_empty() -> None:
    assert slice_location(None) == {}


# ---------------------------------------------------------------- ExportSliceRecordFilter


def _filter(**kwargs: object) -> ExportSliceRecordFilter:
    return ExportSliceRecordFilter(parameters={"name": "s"}, config={}, **kwargs)


def test_partition_fields_are_copied_into_every_record() -> None:
    records = [{"email": "a@x"}, {"email": "b@x"}]
    out = list(_filter(partition_fields=["list_id"]).filter_records(records, {}, StreamSlice(partition={"list_id": "7"}, cursor_slice={})))
    assert out == [{"email": "a@x", "list_id": "7"}, {"email": "b@x", "list_id": "7"}]


def test_records_before_the_slice_start_second_are_dropped_and_undated_ones_kept() -> None:
    window = StreamSlice(partition={}, cursor_slice={"start_time": "2024-05-01T10:00:00.700Z", "end_time": "2024-06-01T00:00:00.000Z"})
    records = [
        {"id": 1, "updated_at": "2024-05-01T09:59:59.999Z"},
        {"id": 2, "updated_at": "2024-05-01T10:00:00.000Z"},
        {"id": 3, "updated_at": "2024-05-02T00:00:00.000Z"},
        {"id": 4, "updated_at": None},
    ]
    out = list(_filter(cursor_field="updated_at").filter_records(records, {}, window))
    assert [r["id"] for r in out] == [2, 3, 4]


def test_a_failure_while_reading_names_the_slice() -> None:
    def broken() -> Iterator[dict]:
        yield {"email": "a@x"}
        raise AirbyteTracedException(message="Stream s: the export file f is broken: row 2.", failure_type=FailureType.system_error)

    out = _filter(partition_fields=["list_id"]).filter_records(broken(), {}, StreamSlice(partition={"list_id": "7"}, cursor_slice={}))
    assert next(out) == {"email": "a@x", "list_id": "7"}
    with pytest.raises(AirbyteTracedException) as raised:
        next(out)
    assert raised.value.message == "Stream s: the export file f is broken: row 2. Slice: {'list_id': '7'}."


# ---------------------------------------------------------------- to_rfc3339


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2018-11-29 15:10:15 -0500", "2018-11-29T20:10:15.000Z"),
        ("2019-11-25T16:29:13.057 -0500", "2019-11-25T21:29:13.057Z"),
        ("2019-11-25T23:29:13.5+05:30", "2019-11-25T17:59:13.500Z"),
        ("2024-03-01T10:00:00.000Z", "2024-03-01T10:00:00.000Z"),
        ("2024-12-31 23:30:00 -0100", "2025-01-01T00:30:00.000Z"),
        ("2019-11-25T16:29:13.0575 +0130", "2019-11-25T14:59:13.057Z"),  # four fraction digits
        ("2019-11-25 16:29:13 -05:00", "2019-11-25T21:29:13.000Z"),  # colon offset: the regex path
        ("2019-11-25 16:29:13", "2019-11-25T16:29:13.000Z"),  # no offset: read as UTC
        ("", None),
    ],
)
def test_to_rfc3339_normalizes_both_csv_forms_to_utc(value: str, expected: str) -> None:
    assert to_rfc3339(value) == expected


def test_to_rfc3339_rejects_what_is_not_a_date_time() -> None:
    with pytest.raises(ValueError):
        to_rfc3339("29/11/2018")
    with pytest.raises(ValueError):
        to_rfc3339("29/11/2018 10:00 -0500")


# ---------------------------------------------------------------- SpooledDownloadRequester

FILE = "https://files.example.com/exports/f.csv"
CSV = b"Email\r\na@example.com\r\nb@example.com\r\n"


def _spooler(url_base: str = FILE, **kwargs: object) -> SpooledDownloadRequester:
    return SpooledDownloadRequester(
        name="job download - s",
        url_base=url_base,
        config={},
        parameters={"name": "s"},
        request_headers={"Accept": "text/csv"},
        expected_records="{{ polling_response.get('status', {}).get('items_total_count') }}",
        **kwargs,
    )


def _download_slice(polling_response: dict) -> StreamSlice:
    return StreamSlice(partition={}, cursor_slice={}, extra_fields={"polling_response": polling_response})


class _ResetAfter(io.RawIOBase):
    """A body whose connection is reset after `size` bytes, as urllib3 meets it when a server goes away half way."""

    def __init__(self, body: bytes, size: int) -> None:
        self._body, self._left = io.BytesIO(body), size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:
        if self._left <= 0:
            raise ConnectionResetError(104, "Connection reset by peer")
        chunk = self._body.read(min(len(buffer), self._left))
        self._left -= len(chunk)
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_the_file_is_downloaded_whole_to_disk_with_the_reported_count() -> None:
    with requests_mock.Mocker() as mocker:
        mocker.get(FILE, content=CSV, headers={"Content-Length": str(len(CSV))})
        response = _spooler().send_request(stream_slice=_download_slice({"status": {"items_total_count": 2}}))

        assert mocker.last_request.headers["Accept"] == "text/csv"
    assert response.raw.read() == CSV and response.raw.seekable()
    assert expected_records(response) == 2


def test_without_a_reported_count_there_is_none() -> None:
    with requests_mock.Mocker() as mocker:
        mocker.get(FILE, content=CSV)
        response = _spooler().send_request(stream_slice=_download_slice({"state": "completed"}))
    assert expected_records(response) is None


def test_a_download_reset_half_way_is_downloaded_again(sleeps: SleepRecorder) -> None:
    with requests_mock.Mocker() as mocker:
        mocker.get(FILE, [
            {"body": _ResetAfter(CSV, 10), "headers": {"Content-Length": str(len(CSV))}},
            {"content": CSV[:12], "headers": {"Content-Length": str(len(CSV))}},  # fewer bytes than announced
            {"content": CSV, "headers": {"Content-Length": str(len(CSV))}},
        ])
        response = _spooler().send_request(stream_slice=_download_slice({"status": {"items_total_count": 2}}))

        assert mocker.call_count == 3
    assert response.raw.read() == CSV
    assert sleeps.waits == [2.0, 4.0]


def test_a_download_reset_every_time_fails_naming_stream_and_file_without_the_query() -> None:
    with requests_mock.Mocker() as mocker:
        mocker.get(FILE, [{"body": _ResetAfter(CSV, 10), "headers": {"Content-Length": str(len(CSV))}} for _ in range(3)])
        requester = _spooler(url_base=f"{FILE}?api_key=secret")
        with pytest.raises(AirbyteTracedException) as raised:
            requester.send_request(stream_slice=_download_slice({}))

        assert mocker.call_count == 3
    assert raised.value.failure_type == FailureType.transient_error
    assert raised.value.message.startswith(f"Stream s: the export file {FILE} arrived incomplete 3 times; the last time: ProtocolError:")
    assert "secret" not in raised.value.message


def test_a_gzip_file_without_its_trailer_is_downloaded_again_then_fails_naming_the_last_whole_line() -> None:
    lines = b"".join(b'{"id":%d,"pad":"%s"}\n' % (i, b"x" * 40) for i in range(2000))
    whole = gzip.compress(lines)
    cut = whole[: len(whole) // 2]
    with requests_mock.Mocker() as mocker:
        mocker.get(FILE, [{"content": cut}, {"content": whole}])
        response = _spooler(gzip_file=True).send_request(stream_slice=_download_slice({}))
        assert gzip.decompress(response.raw.read()) == lines

        mocker.get(FILE, [{"content": cut}] * 3)
        with pytest.raises(AirbyteTracedException) as raised:
            _spooler(gzip_file=True).send_request(stream_slice=_download_slice({}))
    complete_lines = zlib.decompressobj(wbits=31).decompress(cut).count(b"\n")
    assert 0 < complete_lines < 2000
    assert raised.value.message.endswith(f"_CutShort: the gzip file ends without its trailer after line {complete_lines}.")


def test_a_gzip_file_of_several_members_is_whole() -> None:
    two_members = gzip.compress(b'{"id":1}\n') + gzip.compress(b'{"id":2}\n')
    with requests_mock.Mocker() as mocker:
        mocker.get(FILE, [{"content": two_members}])
        assert _spooler(gzip_file=True).send_request(stream_slice=_download_slice({})).raw.read() == two_members


def test_an_empty_body_where_a_gzip_file_is_due_is_an_incomplete_download(sleeps: SleepRecorder) -> None:
    with requests_mock.Mocker() as mocker:
        mocker.get(FILE, [{"content": b""}, {"content": b""}, {"content": b""}])
        with pytest.raises(AirbyteTracedException) as error:
            _spooler(gzip_file=True).send_request(stream_slice=_download_slice({}))
    assert "arrived incomplete 3 times; the last time: _CutShort: an empty body where a gzip file is due" in error.value.message
    assert mocker.call_count == 3
