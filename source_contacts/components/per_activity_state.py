"""Per-activity state of the Constant Contact tracking streams, without the CDK's global fallback."""

from dataclasses import InitVar, dataclass
from typing import Any, Mapping

from airbyte_cdk.sources.declarative.migrations.state_migration import StateMigration


@dataclass
class PerActivityStateOnly(StateMigration):
    """Drops the global cursor the CDK saves beside the per-activity states: the CDK starts a partition without a
    state of its own there, so a new activity would be read only from the newest event of the others."""

    parameters: InitVar[Mapping[str, Any]]

    def should_migrate(self, stream_state: Mapping[str, Any]) -> bool:
        return "state" in stream_state

    def migrate(self, stream_state: Mapping[str, Any]) -> Mapping[str, Any]:
        return {key: value for key, value in stream_state.items() if key not in ("state", "lookback_window")}
