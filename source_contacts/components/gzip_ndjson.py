"""Gzip NDJSON export files decoded line by line; a line that is not a JSON object fails the stream naming it."""

import gzip
import logging
import zlib
from dataclasses import InitVar, dataclass, field
from typing import IO, Any, List, Mapping, Optional

import orjson
import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.decoders.decoder import DECODER_OUTPUT_TYPE, Decoder
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_contacts.components.datetimes import to_rfc3339

LOGGER = logging.getLogger("airbyte")


class ExportFileError(AirbyteTracedException):
    """An export file the sync cannot trust (truncated gzip, a line that is not a JSON object)."""


@dataclass
class GzipNdjsonDecoder(Decoder):
    """Decodes a gzip NDJSON body line by line with orjson, never holding the file in memory.

    The CDK's JsonLineParser skips malformed lines with a warning; here every line must be a JSON object,
    else the sync fails naming the line (the slice is added by the record filter). A plain NDJSON file is read too.
    datetime_fields: fields whose values must be UTC RFC 3339 ending in `Z`; any other date-time is converted.
    """

    parameters: InitVar[Mapping[str, Any]]
    datetime_fields: List[str] = field(default_factory=list)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = parameters.get("name", "export")

    def is_stream_response(self) -> bool:
        return True

    def decode(self, response: requests.Response) -> DECODER_OUTPUT_TYPE:
        # response.raw keeps the bytes compressed whatever Content-Encoding says: we gunzip exactly once.
        datetimes = self.datetime_fields
        line_no = 0
        try:
            with self._lines(response.raw) as lines:
                for line_no, line in enumerate(lines, start=1):
                    if line.isspace():
                        continue
                    try:
                        record = orjson.loads(line)
                    except orjson.JSONDecodeError as error:
                        raise self._error(f"line {line_no} of the export file is not valid JSON ({error})") from error
                    if not isinstance(record, dict):
                        raise self._error(f"line {line_no} of the export file is not a JSON object")
                    for name in datetimes:
                        value = record.get(name)
                        if isinstance(value, str) and value[-1:] != "Z":
                            record[name] = self._utc(value, name, line_no)
                    yield record
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as error:
            raise self._error(f"the export file is truncated or corrupt after line {line_no} ({error})") from error
        finally:
            response.close()

    def _lines(self, body: IO[bytes]) -> IO[bytes]:
        """The file's lines: gunzipped, or as they are when the file is plain NDJSON (said in a warning)."""
        start = body.read(64).lstrip()[:1]
        body.seek(0)
        if start != b"{":
            return gzip.GzipFile(fileobj=body, mode="rb")  # type: ignore[return-value]
        LOGGER.warning(f"Stream {self._stream}: the export file is plain NDJSON, not gzip as the API documents; it is read as it is.")
        return body

    def _utc(self, value: str, name: str, line_no: int) -> Optional[str]:
        try:
            return to_rfc3339(value)
        except ValueError:
            raise self._error(f"line {line_no} of the export file: {name} '{value}' is not a date-time") from None

    def _error(self, what: str) -> ExportFileError:
        message = f"Stream {self._stream}: {what}. The other windows are still read, then the stream fails with its state before this window."
        return ExportFileError(message=message, internal_message=message, failure_type=FailureType.system_error)
