"""Run the emulator in the foreground: python -m emulator [--port 8765] [--seed 7]."""
from __future__ import annotations

import argparse
import json
import threading

from .core import Emulator


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="API listener port (0 = ephemeral)")
    parser.add_argument("--files-port", type=int, default=0, help="presigned-file host port (0 = ephemeral)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cometly-timezone", default="America/New_York")
    args = parser.parse_args(argv)

    emu = Emulator(seed=args.seed, cometly_timezone=args.cometly_timezone)
    emu.start(port=args.port, files_port=args.files_port)
    print(f"API:        {emu.url}  (/v2, /v3, /oauth2/default/v1/token, /public-api/v1)")
    print(f"File host:  {emu.files_url}")
    print("Connector config (the v3 refresh token rotates: after one refresh this one is spent):")
    print(json.dumps(emu.config(), indent=2))
    print("Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
