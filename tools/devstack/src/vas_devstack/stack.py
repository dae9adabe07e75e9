"""`make run`: the whole suite on this machine, no docker, no system services.

Starts PostgreSQL (embedded unless DATABASE_URL is set) and the broker, creates one
database per service, starts the SMSC simulator and the four services as processes, waits
until the simulator answers /healthz and each service /readyz, prints their URLs and then
waits for Ctrl-C (SIGINT) or SIGTERM to stop everything in reverse order. What it started
is written to <state>/stack.json so that `make down` can stop a stack whose supervisor was
killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx
import psutil

from vas_devstack.broker import FETCH_MAX_WAIT_MS, EmbeddedBroker
from vas_devstack.databases import ensure_database
from vas_devstack.net import port_is_free
from vas_devstack.postgres import EmbeddedPostgres


@dataclass(frozen=True)
class ServiceProcess:
    name: str
    module: str
    env_prefix: str
    port_offset: int

    @property
    def database(self) -> str:
        return "vas_" + self.name.replace("-", "_")


SERVICES = (
    ServiceProcess("sms-sender", "sms_sender.main:create_app", "SMS_SENDER_", 1),
    ServiceProcess("subscription", "subscription.main:create_app", "SUBSCRIPTION_", 2),
    ServiceProcess("complaints", "complaints.main:create_app", "COMPLAINTS_", 3),
    ServiceProcess("incident", "incident.main:create_app", "INCIDENT_", 4),
)


@dataclass
class StackConfig:
    state_dir: Path
    port_base: int = 8000
    broker_port: int = 19092
    postgres_port: int = 55432
    ready_timeout_s: float = 120.0
    smsc_port: int = field(default_factory=lambda: int(os.environ.get("VAS_SMSC_PORT", "2775")))
    smsc_http_port: int = field(default_factory=lambda: int(os.environ.get("VAS_SMSC_HTTP_PORT", "8025")))


ADMIN_LOGIN = "admin"  # the first staff administrator `make run` creates
_COMPLAINTS = next(svc for svc in SERVICES if svc.name == "complaints")


class StackError(RuntimeError):
    pass


def _say(message: str) -> None:
    print(message, flush=True)


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.state_dir = config.state_dir.resolve()
        self.logs = self.state_dir / "logs"
        self.postgres: EmbeddedPostgres | None = None
        self.broker: EmbeddedBroker | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    # -- start ---------------------------------------------------------------------------

    def _check_ports(self) -> None:
        wanted = {
            "broker": self.config.broker_port,
            "smsc": self.config.smsc_port,
            "smsc control": self.config.smsc_http_port,
        }
        if not os.environ.get("DATABASE_URL"):
            wanted["postgres"] = self.config.postgres_port
        for svc in SERVICES:
            wanted[svc.name] = self.config.port_base + svc.port_offset
        busy = [f"{name} :{port}" for name, port in wanted.items() if not port_is_free(port)]
        if busy:
            raise StackError(
                "ports in use: "
                + ", ".join(busy)
                + " (is another stack running? `make down` stops it; VAS_PORT_BASE moves the services,"
                " VAS_SMSC_PORT / VAS_SMSC_HTTP_PORT the SMSC simulator)"
            )

    def operator_token(self) -> str:
        path = self.state_dir / "operator-token"
        if not path.exists():
            path.write_text(os.environ.get("VAS_OPERATOR_TOKEN") or secrets.token_urlsafe(24))
            path.chmod(0o600)
        return path.read_text().strip()

    def staff_token_key(self) -> str:
        """The key every service verifies staff sign-in with (the complaints service issues)."""
        return self._secret("staff-token-key", "VAS_STAFF_TOKEN_KEY", 32)

    def admin_password(self) -> str:
        """The first staff administrator's password (login `admin`), created at the first start."""
        return self._secret("admin-password", "VAS_ADMIN_PASSWORD", 12)

    def _secret(self, name: str, variable: str, size: int) -> str:
        path = self.state_dir / name
        if not path.exists():
            path.write_text(os.environ.get(variable) or secrets.token_urlsafe(size))
            path.chmod(0o600)
        return path.read_text().strip()

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self._check_ports()
        admin_dsn = os.environ.get("DATABASE_URL")
        if admin_dsn:
            _say("PostgreSQL: using DATABASE_URL")
        else:
            self.postgres = EmbeddedPostgres(self.state_dir / "pgdata", self.config.postgres_port)
            self.postgres.start()
            admin_dsn = self.postgres.dsn()
            _say(f"PostgreSQL: 127.0.0.1:{self.postgres.port} (data in {self.postgres.data_dir})")
        self._record()
        self.broker = EmbeddedBroker(self.logs / "broker.log", self.config.broker_port)
        self.broker.start()
        self._record()
        _say(f"Broker (Kafka protocol, memory-only): {self.broker.bootstrap}")
        self._start_smsc()
        self._record()
        token = self.operator_token()
        for svc in SERVICES:
            dsn = asyncio.run(ensure_database(admin_dsn, svc.database))
            self._start_service(svc, dsn, token)
        self._record()
        self._wait_ready()

    @property
    def smsc_url(self) -> str:
        return f"http://127.0.0.1:{self.config.smsc_http_port}"

    def _start_smsc(self) -> None:
        """The SMSC simulator (SMPP 3.4 on 127.0.0.1:smsc_port, control API on smsc_http_port)."""
        with (self.logs / "smsc.log").open("ab") as log:
            self.processes["smsc"] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "vas_devstack.smsc",
                    "--smpp-port",
                    str(self.config.smsc_port),
                    "--http-port",
                    str(self.config.smsc_http_port),
                    "--log-level",
                    "INFO",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _start_service(self, svc: ServiceProcess, dsn: str, token: str) -> None:
        assert self.broker is not None
        port = self.config.port_base + svc.port_offset
        env = dict(os.environ)
        env.update(
            {
                f"{svc.env_prefix}DATABASE_URL": dsn,
                f"{svc.env_prefix}KAFKA_BOOTSTRAP": self.broker.bootstrap,
                f"{svc.env_prefix}OPERATOR_TOKEN": token,
                f"{svc.env_prefix}STAFF_TOKEN_KEY": self.staff_token_key(),
                f"{svc.env_prefix}KAFKA_SESSION_TIMEOUT_MS": "3000",
                f"{svc.env_prefix}KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
            }
        )
        if svc.name == "complaints":  # staff accounts live here; the first admin when there is none
            env[f"{svc.env_prefix}INITIAL_ADMIN_LOGIN"] = ADMIN_LOGIN
            env[f"{svc.env_prefix}INITIAL_ADMIN_PASSWORD"] = self.admin_password()
        if svc.name == "sms-sender":  # binds to the SMSC simulator (its default account vas / vas-pass)
            env[f"{svc.env_prefix}SMSC_HOST"] = "127.0.0.1"
            env[f"{svc.env_prefix}DISPATCH_FETCH_MAX_WAIT_MS"] = str(FETCH_MAX_WAIT_MS)
            env[f"{svc.env_prefix}SMSC_PORT"] = str(self.config.smsc_port)
        with (self.logs / f"{svc.name}.log").open("ab") as log:
            self.processes[svc.name] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    svc.module,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-access-log",
                    "--timeout-graceful-shutdown",
                    "10",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.config.ready_timeout_s
        pending = {
            svc.name: f"http://127.0.0.1:{self.config.port_base + svc.port_offset}/readyz" for svc in SERVICES
        }
        if "smsc" in self.processes:
            pending["smsc"] = self.smsc_url + "/healthz"
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for name, url in list(pending.items()):
                    if self.processes[name].poll() is not None:
                        raise StackError(f"{name} exited during start-up; see {self.logs / (name + '.log')}")
                    try:
                        if client.get(url).status_code == 200:
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                if time.monotonic() > deadline:
                    raise StackError(
                        f"not ready after {self.config.ready_timeout_s:.0f}s: {', '.join(pending)}"
                    )
                if pending:
                    time.sleep(0.2)

    def _record(self) -> None:
        """Write what runs now, so `make down` can stop it if this supervisor is killed."""
        entries = []
        for name, proc in {
            **self.processes,
            **({"broker": self.broker.process} if self.broker and self.broker.process else {}),
        }.items():
            if proc is not None and proc.poll() is None:
                entries.append(
                    {"name": name, "pid": proc.pid, "started": psutil.Process(proc.pid).create_time()}
                )
        state = {
            "supervisor": os.getpid(),
            "processes": entries,
            "postgres_data": str(self.postgres.data_dir) if self.postgres else None,
        }
        (self.state_dir / "stack.json").write_text(json.dumps(state, indent=2))

    def describe(self) -> str:
        lines = ["", "VAS suite is ready:"]
        for svc in SERVICES:
            base = f"http://127.0.0.1:{self.config.port_base + svc.port_offset}"
            lines.append(f"  {svc.name:<13} {base}   docs {base}/docs   metrics {base}/metrics")
        assert self.broker is not None
        lines += [
            f"  smsc          smpp 127.0.0.1:{self.config.smsc_port} (system_id vas, password vas-pass)"
            f"   control {self.smsc_url}/stats",
            f"  broker        {self.broker.bootstrap}",
            f"  postgres      {self.postgres.dsn() if self.postgres else 'DATABASE_URL'}",
            f"  logs          {self.logs}",
            f"  operator token: {self.state_dir / 'operator-token'}",
            f"  staff console: http://127.0.0.1:{self.config.port_base + _COMPLAINTS.port_offset}/staff/login"
            f"  (login {ADMIN_LOGIN}, password in {self.state_dir / 'admin-password'}:"
            f" {self.admin_password()})",
            "Ctrl-C stops everything.",
        ]
        return "\n".join(lines)

    # -- stop ----------------------------------------------------------------------------

    def stop(self) -> None:
        for name, proc in reversed(list(self.processes.items())):
            _terminate(proc, name)
        self.processes.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if self.postgres is not None:
            self.postgres.stop("fast")
            self.postgres = None
        (self.state_dir / "stack.json").unlink(missing_ok=True)


def _terminate(proc: subprocess.Popen[bytes], name: str, grace_s: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        _say(f"{name} did not stop in {grace_s:.0f}s; killing it")
        proc.kill()
        proc.wait(10)


def run(config: StackConfig) -> int:
    stack = Stack(config)
    stopping = False

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        stack.start()
        _say(stack.describe())
        _say("stack ready")
        while not stopping:
            for name, proc in stack.processes.items():
                if proc.poll() is not None:
                    raise StackError(
                        f"{name} exited with {proc.returncode}; see {stack.logs / (name + '.log')}"
                    )
            time.sleep(0.5)
    except KeyboardInterrupt:
        _say("\nstopping ...")
    except StackError as exc:
        _say(f"error: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        stack.stop()
        _say("stopped")
    return 0


def down(state_dir: Path) -> int:
    """Stop what a previous `run` left behind (its supervisor was killed)."""
    state_file = state_dir / "stack.json"
    if not state_file.exists():
        _say("no stack is recorded as running")
        return 0
    state = json.loads(state_file.read_text())
    with_supervisor = [
        {"name": "supervisor", "pid": state["supervisor"], "started": None},
        *state["processes"],
    ]
    for entry in with_supervisor:
        try:
            proc = psutil.Process(entry["pid"])
            if entry["started"] is not None and abs(proc.create_time() - entry["started"]) > 1:
                continue  # the pid was reused by something else
            if (
                entry["name"] == "supervisor"
                and "vas_devstack" not in " ".join(proc.cmdline())
                and "vas-stack" not in " ".join(proc.cmdline())
            ):
                continue
            proc.terminate()
            try:
                proc.wait(15)
            except psutil.TimeoutExpired:
                proc.kill()
            _say(f"stopped {entry['name']} (pid {entry['pid']})")
        except psutil.NoSuchProcess:
            pass
    if state.get("postgres_data"):
        EmbeddedPostgres(Path(state["postgres_data"]), port=1).stop("fast")
        _say("stopped postgres")
    state_file.unlink(missing_ok=True)
    return 0
