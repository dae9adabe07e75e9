"""`make run` brings the whole suite to ready, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from vas_devstack.net import free_port, port_is_free
from vas_devstack.pytest_plugin import repo_root
from vas_devstack.stack import SERVICES

pytestmark = pytest.mark.e2e


def free_port_base() -> int:
    """Service ports below the kernel's ephemeral range: a port inside it, free when chosen,
    was once taken by an outgoing connection (to the broker or PostgreSQL) before the
    service could bind it."""
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(50):
        base = random.randrange(10_000, ephemeral_low - 10, 10)
        if all(port_is_free(base + s.port_offset) for s in SERVICES):
            return base
    raise RuntimeError("no free port range")


def read_lines(stream: object, lines: queue.Queue[str]) -> None:
    for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
        lines.put(raw.decode(errors="replace"))


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_make_run_ready_within_two_minutes_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    state = tmp_path / "state"
    base = free_port_base()
    env = {
        **os.environ,
        "VAS_STATE_DIR": str(state),
        "VAS_PORT_BASE": str(base),
        "VAS_BROKER_PORT": str(free_port()),
        "VAS_POSTGRES_PORT": str(free_port()),
        "VAS_SMSC_PORT": str(free_port()),
        "VAS_SMSC_HTTP_PORT": str(free_port()),
    }
    env.pop("DATABASE_URL", None)
    started = time.monotonic()
    # A session of its own, like a terminal: Ctrl-C is SIGINT to the whole foreground group.
    make = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=repo_root(),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(make.stdout, lines), daemon=True).start()
    output: list[str] = []
    try:
        while not any("stack ready" in line for line in output):
            remaining = 120 - (time.monotonic() - started)
            assert remaining > 0, "not ready within 2 minutes:\n" + "".join(output)
            assert make.poll() is None or not lines.empty(), "make run exited:\n" + "".join(output)
            try:
                output.append(lines.get(timeout=min(remaining, 1.0)))
            except queue.Empty:
                continue
        ready_after = time.monotonic() - started
        print(f"make run ready after {ready_after:.1f}s")

        with httpx.Client(timeout=5) as client:
            for svc in SERVICES:
                response = client.get(f"http://127.0.0.1:{base + svc.port_offset}/readyz")
                assert response.status_code == 200, (svc.name, response.text)
                assert (
                    client.get(f"http://127.0.0.1:{base + svc.port_offset}/openapi.json").status_code == 200
                )
            assert client.get(f"http://127.0.0.1:{env['VAS_SMSC_HTTP_PORT']}/healthz").status_code == 200
            # the staff console: the first admin, with the password make run printed
            printed = next(line for line in output if "staff console:" in line)
            password = printed.rsplit(":", 1)[1].strip().rstrip(")")
            complaints = f"http://127.0.0.1:{base + 3}"
            session = client.post(
                f"{complaints}/v1/staff/sessions", json={"login": "admin", "password": password}
            )
            assert session.status_code == 201, session.text
            queue_page = client.get(f"{complaints}/staff/complaints")  # the session cookie, kept
            assert queue_page.status_code == 200, queue_page.text

        recorded = json.loads((state / "stack.json").read_text())
        pids = {entry["pid"] for entry in recorded["processes"]}
        pids |= {p.pid for p in psutil.Process(make.pid).children(recursive=True)}
        postmaster = int((state / "pgdata" / "postmaster.pid").read_text().split()[0])
        pids |= {postmaster} | {p.pid for p in psutil.Process(postmaster).children(recursive=True)}
        assert len(pids) >= 7  # supervisor, 4 services, broker, postgres at least

        os.killpg(make.pid, signal.SIGINT)
        make.wait(90)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            subprocess.run(
                [str(repo_root() / ".venv/bin/vas-stack"), "down", "--state-dir", str(state)], check=False
            )

    deadline = time.monotonic() + 10  # processes are reaped by their parents a moment after exit
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in pids if alive(pid)]
    assert left == [], f"processes left behind: {[psutil.Process(p).cmdline() for p in left]}"
    assert not (state / "stack.json").exists()
