"""Records stamped after the sync's start are emitted, with a warning; state never goes beyond the sync's start.

One future-dated record (a campaign stamped 2099, a server clock ahead) would otherwise become the state, and every
later sync would ask for changes after 2099 and read nothing (Airbyte klaviyo #27498).
"""

from typing import Any, Dict, Iterator, Mapping

from airbyte_cdk.models import AirbyteLogMessage, AirbyteMessage, AirbyteStateBlob, Level, Type

WARNINGS_PER_STREAM = 5


def _clamped(node: Any, cursor_field: str, latest: str) -> Any:
    """`node` (a stream state) with every value of `cursor_field` later than `latest` (`YYYY-MM-DDTHH:MM:SS`) set to it,
    in the value's own form (`...Z` or `....000Z`)."""
    if isinstance(node, Mapping):
        return {
            key: (_at(latest, value) if key == cursor_field and isinstance(value, str) and value[:19] > latest else _clamped(value, cursor_field, latest))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_clamped(item, cursor_field, latest) for item in node]
    return node


def _at(latest: str, value: str) -> str:
    fraction = value[19:-1] if value.endswith("Z") and value[19:20] == "." else ""
    return latest + (("." + "0" * (len(fraction) - 1)) if fraction else "") + "Z"


class FutureStamps:
    """Checks the messages of one read: `cursor_fields` maps each incremental stream to its cursor field."""

    def __init__(self, cursor_fields: Mapping[str, str], sync_start: str) -> None:
        self._cursor_fields = cursor_fields
        self._latest = sync_start[:19]
        self._warned: Dict[str, int] = {}

    def checked(self, message: AirbyteMessage) -> Iterator[AirbyteMessage]:
        """`message`, after a warning when it is a record stamped after the sync's start; a state clamped to it."""
        if message.type == Type.RECORD and message.record is not None:
            field = self._cursor_fields.get(message.record.stream)
            value = message.record.data.get(field) if field else None
            if isinstance(value, str) and value[:19] > self._latest and self._warned.get(message.record.stream, 0) < WARNINGS_PER_STREAM:
                self._warned[message.record.stream] = self._warned.get(message.record.stream, 0) + 1
                yield self._warning(
                    f"Stream {message.record.stream}: a record has {field} {value}, later than the sync's start "
                    f"({self._latest}Z); it is emitted, and the state stays at the sync's start."
                )
        elif message.type == Type.STATE and message.state is not None and message.state.stream is not None:
            stream = message.state.stream
            field = self._cursor_fields.get(stream.stream_descriptor.name)
            if field and stream.stream_state is not None:
                stream.stream_state = AirbyteStateBlob(_clamped(stream.stream_state.__dict__, field, self._latest))
        yield message

    @staticmethod
    def _warning(text: str) -> AirbyteMessage:
        return AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=Level.WARN, message=text))
