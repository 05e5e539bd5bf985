"""Run the emulator in the foreground and write a ready connector config: `make emulator` (or `python -m emulator`)."""
from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

from .core import Emulator


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="API listener port (0 = ephemeral)")
    parser.add_argument("--files-port", type=int, default=0, help="presigned-file host port (0 = ephemeral)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cometly-timezone", default="America/New_York")
    parser.add_argument("--config", type=Path, default=Path("emulator-config.json"),
                        help="where to write the connector config pointing at this emulator")
    args = parser.parse_args(argv)

    emu = Emulator(seed=args.seed, cometly_timezone=args.cometly_timezone)
    emu.start(port=args.port, files_port=args.files_port)
    args.config.write_text(json.dumps(emu.config(), indent=2) + "\n")
    print(f"Emulator of Constant Contact v2/v3 and Cometly on {emu.url} (export files on {emu.files_url}).")
    print(f"Config: {args.config.resolve()}")
    print("Its v3 refresh token works once: keep the config each run prints (README, 'Run it by hand').")
    print("Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
