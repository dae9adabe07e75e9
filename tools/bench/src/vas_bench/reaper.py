"""`python -m vas_bench.reaper PID STATE_DIR`: stop a benchmark stack whose harness died.

Started by the harness in a session of its own (so the terminal's Ctrl-C does not reach it).
It waits for the harness process to end; if the harness left `STATE_DIR/stack.json` behind
(it was killed, or crashed before its clean-up), it stops what is recorded there with
`vas_devstack.stack.down` (services, simulator, broker, then PostgreSQL via pg_ctl) and
removes the state folder. A harness that cleaned up removes stack.json and terminates this.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import psutil

from vas_devstack.stack import down


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    pid, state_dir = int(args[0]), Path(args[1])
    try:
        harness = psutil.Process(pid)
        while harness.is_running() and harness.status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.5)
    except psutil.NoSuchProcess:
        pass
    if (state_dir / "stack.json").exists():
        print(f"harness {pid} ended without cleaning up; stopping its stack", flush=True)
        down(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
