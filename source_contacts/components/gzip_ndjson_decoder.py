"""Streams a gzip NDJSON export file into records, failing loudly on a truncated file or a broken line."""

import gzip
import zlib
from dataclasses import InitVar, dataclass
from typing import Any, Mapping

import orjson
import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.decoders.decoder import DECODER_OUTPUT_TYPE, Decoder
from airbyte_cdk.utils.traced_exception import AirbyteTracedException


class ExportFileError(AirbyteTracedException):
    """An export file the sync cannot trust (truncated gzip, a line that is not a JSON object)."""


@dataclass
class GzipNdjsonDecoder(Decoder):
    """Decodes a gzip NDJSON body line by line with orjson, never holding the file in memory.

    The CDK's JsonLineParser skips malformed lines with a warning; here every line must be a JSON object,
    else the sync fails naming the line (the slice is added by the record filter). Empty files are 0 records.
    """

    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = parameters.get("name", "export")

    def is_stream_response(self) -> bool:
        return True

    def decode(self, response: requests.Response) -> DECODER_OUTPUT_TYPE:
        # response.raw keeps the bytes compressed whatever Content-Encoding says: we gunzip exactly once.
        line_no = 0
        try:
            with gzip.GzipFile(fileobj=response.raw, mode="rb") as lines:
                for line_no, line in enumerate(lines, start=1):
                    if line.isspace():
                        continue
                    try:
                        record = orjson.loads(line)
                    except orjson.JSONDecodeError as error:
                        raise self._error(f"line {line_no} of the export file is not valid JSON ({error})") from error
                    if not isinstance(record, dict):
                        raise self._error(f"line {line_no} of the export file is not a JSON object")
                    yield record
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as error:
            raise self._error(f"the export file is truncated or corrupt after line {line_no} ({error})") from error
        finally:
            response.close()

    def _error(self, what: str) -> ExportFileError:
        message = f"Stream {self._stream}: {what}. The sync stops; the state stays before this export."
        return ExportFileError(message=message, internal_message=message, failure_type=FailureType.system_error)
