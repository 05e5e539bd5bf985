"""Per-activity state of the Constant Contact tracking streams, as the engagement window needs it."""

from dataclasses import InitVar, dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from airbyte_cdk.sources.declarative.migrations.state_migration import StateMigration


@dataclass
class PerActivityState(StateMigration):
    """Two changes to the state the CDK saved for a stream partitioned by activity:

    - the global cursor beside the per-activity states is dropped: the CDK starts a partition without a state of its
      own there, so a new activity would be read only from the newest event of the others;
    - an activity read without finding an event keeps the cursor's start (`cursor_start`) as its state, as if it had
      never been read: its cursor is moved one second later, which reads the same events and tells
      EngagementWindowRetriever that it was read.
    """

    cursor_field: str
    cursor_start: str
    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        start = datetime.fromisoformat(self.cursor_start.replace("Z", "+00:00"))
        self._read_empty = (start + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def should_migrate(self, stream_state: Mapping[str, Any]) -> bool:
        return "state" in stream_state or any(self._never_found(entry) for entry in stream_state.get("states", []))

    def migrate(self, stream_state: Mapping[str, Any]) -> Mapping[str, Any]:
        migrated = {key: value for key, value in stream_state.items() if key not in ("state", "lookback_window")}
        migrated["states"] = [
            {**entry, "cursor": {**entry["cursor"], self.cursor_field: self._read_empty}} if self._never_found(entry) else entry
            for entry in stream_state.get("states", [])
        ]
        return migrated

    def _never_found(self, entry: Mapping[str, Any]) -> bool:
        value = (entry.get("cursor") or {}).get(self.cursor_field)
        return isinstance(value, str) and value[:19] == self.cursor_start[:19]
