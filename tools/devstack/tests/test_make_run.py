"""`make run` brings the whole suite to ready, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def state_folder() -> Iterator[Path]:
    """A stack's state folder outside pytest's temporary root: every pytest session resets that
    root to 0700, so a session started meanwhile (another checkout's) locked the stack's
    PostgreSQL user out of its data folder, and `pg_ctl stop` failed."""
    root = Path(tempfile.mkdtemp(prefix="vas-stack-test-"))
    try:
        yield root / "state"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def state() -> Iterator[Path]:
    with state_folder() as path:
        yield path


def test_make_run_ready_within_two_minutes_and_ctrl_c_stops_everything(state: Path) -> None:
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


# -- an SMSC of one's own, restarts -------------------------------------------------------


class StackRun:
    """`vas-stack run` (what `make run` calls) in a session of its own, its output collected."""

    def __init__(self, env: dict[str, str], state: Path) -> None:
        self.env = env
        self.state = state
        self.process = subprocess.Popen(
            [str(repo_root() / ".venv/bin/vas-stack"), "run"],
            cwd=repo_root(),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=read_lines, args=(self.process.stdout, self._lines), daemon=True).start()
        self.output: list[str] = []

    def wait_for(self, text: str, timeout_s: float = 60.0, after: int = 0) -> str:
        """The first line from index `after` on that contains the text, waiting for it."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = next((line for line in self.output[after:] if text in line), None)
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {text!r} within {timeout_s}s:\n" + "".join(self.output)
            assert self.process.poll() is None or not self._lines.empty(), "the stack exited:\n" + "".join(
                self.output
            )
            try:
                self.output.append(self._lines.get(timeout=min(remaining, 0.5)))
            except queue.Empty:
                continue

    def stop(self) -> None:
        """Ctrl-C to the stack (SIGKILL if it does not end within 90 s), then `vas-stack down`
        for whatever it left recorded."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        if (self.state / "stack.json").exists():
            subprocess.run(
                [str(repo_root() / ".venv/bin/vas-stack"), "down", "--state-dir", str(self.state)],
                check=False,
            )

    def recorded(self) -> dict[str, int]:
        entries = json.loads((self.state / "stack.json").read_text())["processes"]
        return {entry["name"]: entry["pid"] for entry in entries}

    def url(self, name: str) -> str:
        svc = next(s for s in SERVICES if s.name == name)
        return f"http://127.0.0.1:{int(self.env['VAS_PORT_BASE']) + svc.port_offset}"


def eventually_true(check: Callable[[], bool], timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what} not met within {timeout_s}s"
        time.sleep(0.1)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def own_smsc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """An SMSC that is not the stack's: a simulator with an account of its own (control URL, SMPP port)."""
    smpp_port, http_port = free_port(), free_port()
    log = (tmp_path_factory.mktemp("own-smsc") / "smsc.log").open("ab")
    smsc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vas_devstack.smsc",
            "--smpp-port",
            str(smpp_port),
            "--http-port",
            str(http_port),
            "--account",
            "real:s3cret-pass",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{http_port}"
    try:
        eventually_true(lambda: smsc.poll() is None and answers(url + "/healthz"), what="own SMSC up")
        yield url, smpp_port
    finally:
        smsc.terminate()
        smsc.wait(20)
        log.close()


@pytest.fixture(scope="module")
def stack_with_own_smsc(own_smsc: tuple[str, int]) -> Iterator[StackRun]:
    """`make run` with SMS_SENDER_SMSC_* naming that SMSC, and a short restart back-off."""
    with state_folder() as state:
        yield from _stack_with_own_smsc(state, str(own_smsc[1]))


def _stack_with_own_smsc(state: Path, smpp_port: str) -> Iterator[StackRun]:
    env = {
        **os.environ,
        "VAS_STATE_DIR": str(state),
        "VAS_PORT_BASE": str(free_port_base()),
        "VAS_BROKER_PORT": str(free_port()),
        "VAS_POSTGRES_PORT": str(free_port()),
        "VAS_SMSC_PORT": str(free_port()),
        "VAS_SMSC_HTTP_PORT": str(free_port()),
        "VAS_RESTART_INITIAL_S": "0.2",
        "VAS_RESTART_MAX_S": "1",
        "VAS_RESTART_RESET_S": "300",
        "SMS_SENDER_SMSC_HOST": "127.0.0.1",
        "SMS_SENDER_SMSC_PORT": smpp_port,
        "SMS_SENDER_SMSC_SYSTEM_ID": "real",
        "SMS_SENDER_SMSC_PASSWORD": "s3cret-pass",
    }
    env.pop("DATABASE_URL", None)
    run = StackRun(env, state)
    try:
        run.wait_for("stack ready", timeout_s=120)
        yield run
    finally:
        run.stop()


def test_make_run_binds_to_the_smsc_in_the_environment_and_starts_no_simulator(
    stack_with_own_smsc: StackRun, own_smsc: tuple[str, int]
) -> None:
    run, (smsc_url, smpp_port) = stack_with_own_smsc, own_smsc
    said = run.wait_for("SMSC:")
    assert f"127.0.0.1:{smpp_port}" in said
    assert "no simulator started" in said
    assert "system_id real" in said
    assert not any("s3cret-pass" in line for line in run.output)  # the password is never printed

    # the sms-sender bound to that SMSC with that account
    def bound_as_real() -> bool:
        binds = httpx.get(smsc_url + "/stats", timeout=2).json()["binds"]
        return any(b["system_id"] == "real" for b in binds)

    eventually_true(bound_as_real, what="sms-sender bound to the SMSC of the environment")
    eventually_true(lambda: answers(run.url("sms-sender") + "/readyz"), what="sms-sender ready")
    # and no simulator runs: nothing recorded, nothing on its ports
    assert "smsc" not in run.recorded()
    assert port_is_free(int(run.env["VAS_SMSC_PORT"]))
    assert port_is_free(int(run.env["VAS_SMSC_HTTP_PORT"]))


def test_a_service_killed_with_sigkill_is_restarted_and_the_stack_says_so(
    stack_with_own_smsc: StackRun,
) -> None:
    run = stack_with_own_smsc
    before = run.recorded()
    others = {name: pid for name, pid in before.items() if name != "sms-sender"}

    for crash in (1, 2):  # twice in a row: the second back-off is twice the first
        mark = len(run.output)
        os.kill(run.recorded()["sms-sender"], signal.SIGKILL)
        exited = run.wait_for("sms-sender exited with", after=mark)
        assert "code -9 (SIGKILL)" in exited
        assert f"restarting in {0.2 * 2 ** (crash - 1):g}s (crash {crash} in a row" in exited
        restarted = run.wait_for("sms-sender restarted (pid", after=mark)
        new_pid = int(restarted.rsplit("pid ", 1)[1].rstrip(")\n"))
        run.wait_for("sms-sender is ready again", after=mark)
        assert answers(run.url("sms-sender") + "/healthz")
        eventually_true(lambda: run.recorded().get("sms-sender") == new_pid, what="stack.json updated")  # noqa: B023

    eventually_true(lambda: answers(run.url("sms-sender") + "/readyz"), what="sms-sender bound again")
    # the others ran on, untouched
    assert {name: pid for name, pid in run.recorded().items() if name != "sms-sender"} == others
    for svc in SERVICES:
        assert answers(run.url(svc.name) + "/readyz"), svc.name
    assert run.process.poll() is None


def test_a_broker_that_exited_is_reported(stack_with_own_smsc: StackRun) -> None:
    run = stack_with_own_smsc
    mark = len(run.output)
    os.kill(run.recorded()["broker"], signal.SIGKILL)
    assert "the broker exited with code -9 (SIGKILL)" in run.wait_for("the broker exited", after=mark)
    assert run.process.poll() is None


def test_ctrl_c_after_a_restart_still_stops_everything(stack_with_own_smsc: StackRun) -> None:
    run = stack_with_own_smsc
    pids = set(run.recorded().values()) | {p.pid for p in psutil.Process(run.process.pid).children(True)}
    postmaster = int((run.state / "pgdata" / "postmaster.pid").read_text().split()[0])
    pids |= {postmaster} | {p.pid for p in psutil.Process(postmaster).children(recursive=True)}

    os.killpg(run.process.pid, signal.SIGINT)
    assert run.process.wait(90) == 0
    eventually_true(lambda: not any(alive(pid) for pid in pids), timeout_s=10, what="all processes gone")
    assert not (run.state / "stack.json").exists()


def test_make_run_with_a_standby_smsc_moves_dispatch_to_it_when_the_primary_refuses_binds(
    state: Path,
) -> None:
    """VAS_SMSC_STANDBY=1: a second simulator is the sms-sender's standby route, bound all the
    time; refusing binds at the primary moves dispatch to it (the mirror takeover, tried locally)."""
    env = {
        **os.environ,
        "VAS_STATE_DIR": str(state),
        "VAS_PORT_BASE": str(free_port_base()),
        "VAS_BROKER_PORT": str(free_port()),
        "VAS_POSTGRES_PORT": str(free_port()),
        "VAS_SMSC_PORT": str(free_port()),
        "VAS_SMSC_HTTP_PORT": str(free_port()),
        "VAS_SMSC_STANDBY": "1",
        "VAS_SMSC_STANDBY_PORT": str(free_port()),
        "VAS_SMSC_STANDBY_HTTP_PORT": str(free_port()),
        "SMS_SENDER_SMSC_STANDBY_AFTER_S": "1",
    }
    env.pop("DATABASE_URL", None)
    run = StackRun(env, state)
    primary = f"http://127.0.0.1:{env['VAS_SMSC_HTTP_PORT']}"
    standby = f"http://127.0.0.1:{env['VAS_SMSC_STANDBY_HTTP_PORT']}"
    try:
        run.wait_for("stack ready", timeout_s=120)
        said = run.wait_for("SMSC standby route")
        assert env["VAS_SMSC_STANDBY_PORT"] in said
        assert "smsc-standby" in run.recorded()  # `make down` stops it too

        def standby_bound() -> bool:
            binds = httpx.get(standby + "/stats", timeout=2).json()["binds"]
            return any(b["system_id"] == "vas-standby" for b in binds)

        eventually_true(standby_bound, what="the standby bound all the time")
        refused = httpx.post(primary + "/faults/refuse-binds", json={"seconds": 120}, timeout=5)
        assert refused.status_code == 200, refused.text

        def on_standby() -> bool:
            body = httpx.get(run.url("sms-sender") + "/readyz", timeout=2).json()
            return str(body.get("warnings", {}).get("smsc_route", "")).startswith(
                "dispatching on the standby route"
            )

        eventually_true(on_standby, what="dispatch on the standby route")
    finally:
        run.stop()
    assert port_is_free(int(env["VAS_SMSC_STANDBY_PORT"]))  # stopped with the rest
