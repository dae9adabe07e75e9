"""`vas-stack run | down` (what `make run` and `make down` call)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from vas_devstack.stack import StackConfig, down, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vas-stack", description="The VAS suite on this machine")
    parser.add_argument("command", choices=["run", "down"])
    parser.add_argument("--state-dir", type=Path, default=Path(os.environ.get("VAS_STATE_DIR", ".state")))
    parser.add_argument("--port-base", type=int, default=int(os.environ.get("VAS_PORT_BASE", "8000")))
    parser.add_argument("--broker-port", type=int, default=int(os.environ.get("VAS_BROKER_PORT", "19092")))
    parser.add_argument(
        "--postgres-port", type=int, default=int(os.environ.get("VAS_POSTGRES_PORT", "55432"))
    )
    args = parser.parse_args(argv)
    if args.command == "down":
        return down(args.state_dir.resolve())
    return run(StackConfig(args.state_dir, args.port_base, args.broker_port, args.postgres_port))


if __name__ == "__main__":
    raise SystemExit(main())
