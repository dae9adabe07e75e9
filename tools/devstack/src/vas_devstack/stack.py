"""`make run`: the whole suite on this machine, no docker, no system services.

Starts PostgreSQL (embedded unless DATABASE_URL is set) and the broker, creates one
database per service, starts the SMSC simulator (unless SMS_SENDER_SMSC_HOST or
SMS_SENDER_SMSC_PORT names an SMSC of one's own; with VAS_SMSC_STANDBY=1 a second one as the
standby route) and the four services as processes, waits
until the simulator answers /healthz and each service /readyz, prints their URLs and then
watches them until Ctrl-C (SIGINT) or SIGTERM stops everything in reverse order. A service
or the simulator that exits meanwhile is restarted with back-off (`supervise.py`), and the
stack prints which one exited, with what code, and when it is back. What runs is written to
<state>/stack.json so that `make down` can stop a stack whose supervisor was killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx
import psutil

from vas_devstack.broker import FETCH_MAX_WAIT_MS, EmbeddedBroker
from vas_devstack.databases import ensure_database
from vas_devstack.net import port_is_free
from vas_devstack.postgres import EmbeddedPostgres
from vas_devstack.supervise import RestartPolicy, Supervisor, describe_exit


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
    # A second simulator as the sms-sender's standby route (mirror takeover), to try a failover:
    # refuse binds at the primary (POST /faults/refuse-binds) and dispatch moves to it.
    standby: bool = field(default_factory=lambda: os.environ.get("VAS_SMSC_STANDBY", "") not in ("", "0"))
    standby_port: int = field(default_factory=lambda: int(os.environ.get("VAS_SMSC_STANDBY_PORT", "2776")))
    standby_http_port: int = field(
        default_factory=lambda: int(os.environ.get("VAS_SMSC_STANDBY_HTTP_PORT", "8026"))
    )
    restart: RestartPolicy = field(
        default_factory=lambda: RestartPolicy(
            initial_s=float(os.environ.get("VAS_RESTART_INITIAL_S", "1")),
            max_s=float(os.environ.get("VAS_RESTART_MAX_S", "30")),
            reset_after_s=float(os.environ.get("VAS_RESTART_RESET_S", "60")),
        )
    )
    poll_interval_s: float = 0.2  # how often the supervisor looks at its processes


# An SMSC of one's own: either of these in the environment and sms-sender gets them (and the
# credentials) unchanged, and no simulator is started.
SMSC_ADDRESS_VARIABLES = ("SMS_SENDER_SMSC_HOST", "SMS_SENDER_SMSC_PORT")
SMSC_CREDENTIAL_VARIABLES = ("SMS_SENDER_SMSC_SYSTEM_ID", "SMS_SENDER_SMSC_PASSWORD")
SIMULATOR_ACCOUNT = ("vas", "vas-pass")  # sms-sender's default credentials
STANDBY_ACCOUNT = ("vas-standby", "standby-pass")  # the standby simulator's (VAS_SMSC_STANDBY)


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
        self.supervisor: Supervisor[subprocess.Popen[bytes]] = Supervisor(config.restart, _say)
        self.external_smsc = any(os.environ.get(v) for v in SMSC_ADDRESS_VARIABLES)
        self._ready_urls: dict[str, str] = {}  # what start-up waits for, by process name
        self._broker_reported = False

    @property
    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        """What runs now besides the broker and PostgreSQL: the simulator and the services."""
        return self.supervisor.processes

    # -- start ---------------------------------------------------------------------------

    def _check_ports(self) -> None:
        wanted = {"broker": self.config.broker_port}
        if not self.external_smsc:
            wanted |= {"smsc": self.config.smsc_port, "smsc control": self.config.smsc_http_port}
        if self.standby:
            wanted |= {
                "smsc standby": self.config.standby_port,
                "smsc standby control": self.config.standby_http_port,
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
                " VAS_SMSC_PORT / VAS_SMSC_HTTP_PORT the SMSC simulator, VAS_SMSC_STANDBY_PORT /"
                " VAS_SMSC_STANDBY_HTTP_PORT its standby)"
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
        if self.external_smsc:
            _say(
                f"SMSC: {self.smsc_address} from {'/'.join(SMSC_ADDRESS_VARIABLES)}"
                f" ({self._smsc_login()}); no simulator started"
            )
        else:
            self._watch("smsc", self._launch_smsc, self.smsc_url + "/healthz")
            _say(f"SMSC: the simulator on 127.0.0.1:{self.config.smsc_port} ({self._smsc_login()})")
        if self.standby:
            self._watch("smsc-standby", self._launch_standby, self.standby_url + "/healthz")
            _say(
                f"SMSC standby route: a second simulator on 127.0.0.1:{self.config.standby_port}"
                f" (system_id {STANDBY_ACCOUNT[0]}); to try a failover: curl -X POST"
                f" {self.smsc_url}/faults/refuse-binds -H 'content-type: application/json'"
                " -d '{\"seconds\": 120}'"
            )
        self._record()
        token = self.operator_token()
        for svc in SERVICES:
            dsn = asyncio.run(ensure_database(admin_dsn, svc.database))
            env = self._service_env(svc, dsn, token)
            self._watch(svc.name, functools.partial(self._launch_service, svc, env), self._ready_url(svc))
        self._record()
        self._wait_ready()

    @property
    def smsc_address(self) -> str:
        """Where sms-sender binds: the simulator, or host:port from the environment as given."""
        if not self.external_smsc:
            return f"127.0.0.1:{self.config.smsc_port}"
        host = os.environ.get("SMS_SENDER_SMSC_HOST") or "sms-sender's default host"
        port = os.environ.get("SMS_SENDER_SMSC_PORT") or "sms-sender's default port"
        return f"{host}:{port}"

    def _smsc_login(self) -> str:
        """The account sms-sender binds with, for the start-up output (the password only when it
        is the simulator's default)."""
        given = [v for v in SMSC_CREDENTIAL_VARIABLES if os.environ.get(v)]
        if not given:
            return f"system_id {SIMULATOR_ACCOUNT[0]}, password {SIMULATOR_ACCOUNT[1]}"
        system_id = os.environ.get("SMS_SENDER_SMSC_SYSTEM_ID") or SIMULATOR_ACCOUNT[0]
        return f"system_id {system_id}, credentials from {'/'.join(given)}"

    def _simulator_account(self) -> tuple[str, str]:
        """The simulator accepts the credentials sms-sender was given, if any."""
        return (
            os.environ.get("SMS_SENDER_SMSC_SYSTEM_ID") or SIMULATOR_ACCOUNT[0],
            os.environ.get("SMS_SENDER_SMSC_PASSWORD") or SIMULATOR_ACCOUNT[1],
        )

    def _ready_url(self, svc: ServiceProcess) -> str:
        base = f"http://127.0.0.1:{self.config.port_base + svc.port_offset}"
        if svc.name == "sms-sender" and self.external_smsc:
            # its /readyz waits for a bind: an SMSC of one's own that is slow or refuses the account
            # must not fail the start-up; wait until it answers, then say whether it is bound
            return base + "/healthz"
        return base + "/readyz"

    def _watch(self, name: str, launch: Callable[[], subprocess.Popen[bytes]], ready_url: str) -> None:
        def is_ready() -> bool:
            try:
                return httpx.get(ready_url, timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        self._ready_urls[name] = ready_url
        self.supervisor.watch(name, launch(), launch, is_ready, self.logs / f"{name}.log")

    @property
    def smsc_url(self) -> str:
        return f"http://127.0.0.1:{self.config.smsc_http_port}"

    @property
    def standby(self) -> bool:
        """A standby simulator runs: asked for, and the primary is the simulator too."""
        return self.config.standby and not self.external_smsc

    @property
    def standby_url(self) -> str:
        return f"http://127.0.0.1:{self.config.standby_http_port}"

    def _launch_smsc(self) -> subprocess.Popen[bytes]:
        """The SMSC simulator (SMPP 3.4 on 127.0.0.1:smsc_port, control API on smsc_http_port)."""
        return self._launch_simulator(
            "smsc", self.config.smsc_port, self.config.smsc_http_port, self._simulator_account()
        )

    def _launch_standby(self) -> subprocess.Popen[bytes]:
        """The standby route's simulator: another SMSC with an account of its own."""
        return self._launch_simulator(
            "smsc-standby", self.config.standby_port, self.config.standby_http_port, STANDBY_ACCOUNT
        )

    def _launch_simulator(
        self, name: str, smpp_port: int, http_port: int, account: tuple[str, str]
    ) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "vas_devstack.smsc",
                    "--smpp-port",
                    str(smpp_port),
                    "--http-port",
                    str(http_port),
                    "--account",
                    ":".join(account),
                    "--log-level",
                    "INFO",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _service_env(self, svc: ServiceProcess, dsn: str, token: str) -> dict[str, str]:
        assert self.broker is not None
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
        if svc.name == "sms-sender":
            env[f"{svc.env_prefix}DISPATCH_FETCH_MAX_WAIT_MS"] = str(FETCH_MAX_WAIT_MS)
            if not self.external_smsc:  # the simulator; credentials, if given, pass through as they are
                env[f"{svc.env_prefix}SMSC_HOST"] = "127.0.0.1"
                env[f"{svc.env_prefix}SMSC_PORT"] = str(self.config.smsc_port)
            if self.standby:
                env[f"{svc.env_prefix}SMSC_STANDBY_HOST"] = "127.0.0.1"
                env[f"{svc.env_prefix}SMSC_STANDBY_PORT"] = str(self.config.standby_port)
                env[f"{svc.env_prefix}SMSC_STANDBY_SYSTEM_ID"] = STANDBY_ACCOUNT[0]
                env[f"{svc.env_prefix}SMSC_STANDBY_PASSWORD"] = STANDBY_ACCOUNT[1]
        return env

    def _launch_service(self, svc: ServiceProcess, env: dict[str, str]) -> subprocess.Popen[bytes]:
        port = self.config.port_base + svc.port_offset
        with (self.logs / f"{svc.name}.log").open("ab") as log:
            return subprocess.Popen(
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
        pending = dict(self._ready_urls)
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
        if self.external_smsc:
            self._say_sms_sender_readiness()

    def _say_sms_sender_readiness(self) -> None:
        svc = next(s for s in SERVICES if s.name == "sms-sender")
        url = f"http://127.0.0.1:{self.config.port_base + svc.port_offset}/readyz"
        deadline = time.monotonic() + 10  # a bind takes a moment; an SMSC that refuses it, longer
        while True:
            try:
                response = httpx.get(url, timeout=5.0)
            except httpx.HTTPError as exc:
                _say(f"sms-sender /readyz did not answer: {exc}")
                return
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if response.status_code == 200:
            _say(f"sms-sender is bound to the SMSC at {self.smsc_address}")
        else:
            _say(
                f"sms-sender is up but not ready (it keeps trying the SMSC at {self.smsc_address}):"
                f" {response.text}"
            )

    def check_broker(self) -> None:
        """Say once that the broker exited. It is not restarted: it kept everything in memory,
        and a new one would hand the services a broker without their topics and offsets."""
        if self.broker is None or self.broker.process is None or self._broker_reported:
            return
        returncode = self.broker.process.poll()
        if returncode is not None:
            self._broker_reported = True
            _say(
                f"{time.strftime('%H:%M:%S')} the broker exited with {describe_exit(returncode)};"
                f" events stop flowing (see {self.broker.log_path}). Ctrl-C and `make run` again."
            )

    def _record(self) -> None:
        """Write what runs now, so `make down` can stop it if this supervisor is killed."""
        entries = []
        for name, proc in {
            **self.processes,
            **({"broker": self.broker.process} if self.broker and self.broker.process else {}),
        }.items():
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(psutil.NoSuchProcess):  # it may exit meanwhile
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
        if self.external_smsc:
            lines.append(f"  smsc          smpp {self.smsc_address} ({self._smsc_login()}; not a simulator)")
        else:
            lines.append(
                f"  smsc          smpp {self.smsc_address} ({self._smsc_login()})   control {self.smsc_url}/stats"
            )
        lines += [
            f"  broker        {self.broker.bootstrap}",
            f"  postgres      {self.postgres.dsn() if self.postgres else 'DATABASE_URL'}",
            f"  logs          {self.logs}",
            f"  operator token: {self.state_dir / 'operator-token'}",
            f"  staff console: http://127.0.0.1:{self.config.port_base + _COMPLAINTS.port_offset}/staff/login"
            f"  (login {ADMIN_LOGIN}, password in {self.state_dir / 'admin-password'}:"
            f" {self.admin_password()})",
            "A process that exits is restarted (after"
            f" {self.config.restart.initial_s:g}s, doubling to {self.config.restart.max_s:g}s while it keeps"
            " crashing). Ctrl-C stops everything.",
        ]
        return "\n".join(lines)

    # -- stop ----------------------------------------------------------------------------

    def stop(self) -> None:
        for name, proc in reversed(list(self.processes.items())):
            _terminate(proc, name)
        self.supervisor.forget()
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
    starting = True  # a stop interrupts the start-up; later the loop below sees the flag

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        if starting:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        stack.start()
        _say(stack.describe())
        _say("stack ready")
        # No exception from the signal handler from here on: one raised while a crashed process
        # is being started again would leave that process running, unknown to stop().
        starting = False
        while not stopping:
            if stack.supervisor.tick():
                stack._record()
            stack.check_broker()
            time.sleep(stack.config.poll_interval_s)
        _say("\nstopping ...")
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
