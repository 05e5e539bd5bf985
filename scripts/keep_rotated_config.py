"""Pass the connector's output through and save the config of its last CONTROL message, as the Airbyte platform does.

Constant Contact v3 refresh tokens work once: after a refresh, the only copy of the new one is in the CONTROL
message the connector prints. When you run the connector by hand, pipe its output through this script so that
the next command finds the new token in the config file:

    source-contacts check --config emulator-config.json | python scripts/keep_rotated_config.py emulator-config.json
"""

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    config_path = Path(argv[1])
    rotated = None
    for line in sys.stdin:
        sys.stdout.write(line)
        if '"CONTROL"' in line:
            message = json.loads(line)
            if message.get("type") == "CONTROL":
                rotated = message["control"]["connectorConfig"]["config"]
    if rotated is not None:
        config_path.write_text(json.dumps(rotated, indent=2) + "\n")
        print(f"keep_rotated_config: saved the rotated config to {config_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
