"""The whole stack for a benchmark, every part a process of its own, on free ports.

Reuses vas_devstack: `EmbeddedPostgres`, `EmbeddedBroker`, `ensure_database`, the simulator's
CLI (`python -m vas_devstack.smsc`) and `procs.ServiceProcess` for the services. What runs is
recorded in `<state>/stack.json` in the format `vas_devstack.stack.down` reads, and a reaper
process (`vas_bench.reaper`, in a session of its own) stops it all if this process dies
without cleaning up (SIGKILL included).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from vas_devstack.broker import FETCH_MAX_WAIT_MS, EmbeddedBroker
from vas_devstack.databases import ensure_database
from vas_devstack.net import free_port
from vas_devstack.postgres import EmbeddedPostgres
from vas_devstack.procs import ServiceProcess
from vas_devstack.supervise import RestartPolicy, Supervisor

SMS_SENDER = "sms_sender.main:create_app"
SUBSCRIPTION = "subscription.main:create_app"
COMPLAINTS = "complaints.main:create_app"
INCIDENT = "incident.main:create_app"


class StackError(RuntimeError):
    pass


class Restartable:
    """A service process as `vas_devstack.supervise.Supervisor` sees a child (`pid`, `poll()`),
    started again on the same port by `launch()`: the supervisor of `make run` watching the
    benchmark's asyncio children. While a restart waits for /readyz it counts as running."""

    def __init__(self, service: ServiceProcess) -> None:
        self.service = service
        self.starting: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.service.process.pid if self.service.process is not None else 0

    def poll(self) -> int | None:
        if self.starting is not None and not self.starting.done():
            return None
        process = self.service.process
        return process.returncode if process is not None else None

    def launch(self) -> Restartable:
        self.starting = asyncio.ensure_future(self.service.start())
        return self

    def ready(self) -> bool:
        task = self.starting
        return task is None or (task.done() and not task.cancelled() and task.exception() is None)


@dataclass(frozen=True)
class DispatchConfig:
    """How the sms-sender dispatchers bind to the SMSC, and what the SMSC allows."""

    replicas: int = 1
    binds: int = 2  # per replica
    sender_tps: float = 0.0  # SMS_SENDER_SMSC_TPS per bind; 0 = no pacing
    window: int = 32
    smsc_tps: float = 0.0  # the simulator's cap per bind; 0 = none

    def describe(self) -> str:
        tps = f"{self.sender_tps:g}/s" if self.sender_tps else "unpaced"
        cap = f"{self.smsc_tps:g}/s" if self.smsc_tps else "none"
        return (
            f"{self.replicas} dispatcher(s) x {self.binds} binds, window {self.window}, "
            f"sender TPS per bind {tps}, SMSC cap per bind {cap}"
        )


@dataclass
class StackOptions:
    api_procs: int = 1
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    receipt_delay_ms: float = 50.0
    pg_fast_unsafe: bool = False
    log_level: str = "INFO"
    kafka_session_timeout_ms: int = 3000
    sms_path: bool = True  # the SMSC simulator, the subscription service and the sms-sender
    complaints: bool = False  # the complaints service (its own scenario)
    complaints_env: dict[str, str] = field(default_factory=dict)
    incident: bool = False  # the incident service (the quality report's scenario)
    incident_env: dict[str, str] = field(default_factory=dict)
    sender_env: dict[str, str] = field(default_factory=dict)  # more SMS_SENDER_* settings


def _say(message: str) -> None:
    print(message, flush=True)


class BenchStack:
    def __init__(self, options: StackOptions, logs: Path) -> None:
        self.options = options
        self.logs = logs
        self.state_dir = Path(tempfile.mkdtemp(prefix="vas-bench-"))
        self.operator_token = secrets.token_urlsafe(24)
        self.postgres: EmbeddedPostgres | None = None
        self.broker: EmbeddedBroker | None = None
        self.smsc: asyncio.subprocess.Process | None = None
        self.smsc_smpp_port = 0
        self.smsc_http_port = 0
        self.subscription: ServiceProcess | None = None
        self.apis: list[ServiceProcess] = []
        self.dispatchers: list[ServiceProcess] = []
        self.complaints: ServiceProcess | None = None
        self.complaints_dsn = ""
        self.incident: ServiceProcess | None = None
        self.incident_dsn = ""
        self.extra: dict[str, int] = {}  # other processes to record (the load generator)
        self.sender_dsn = ""
        self.subscription_dsn = ""
        self.dispatch = options.dispatch
        self._reaper: subprocess.Popen[bytes] | None = None
        self._dispatcher_seq = 0
        # `supervise()`: the API and dispatcher processes restarted when they exit, as `make run` does
        self.supervisor: Supervisor[Restartable] | None = None
        self.supervisor_log: list[tuple[float, str]] = []  # (monotonic, what it said)
        self._supervising: asyncio.Task[None] | None = None
        self.expected_down: set[str] = set()  # names a fault holds down (crashed() skips them)

    # -- addresses -----------------------------------------------------------------------------

    @property
    def smsc_url(self) -> str:
        return f"http://127.0.0.1:{self.smsc_http_port}"

    @property
    def api_urls(self) -> list[str]:
        return [p.url for p in self.apis]

    @property
    def kafka_bootstrap(self) -> str:
        assert self.broker is not None
        return self.broker.bootstrap

    # -- start ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self._start_reaper()
        started = time.monotonic()
        self.postgres = EmbeddedPostgres(self.state_dir / "pgdata", fast_unsafe=self.options.pg_fast_unsafe)
        await asyncio.to_thread(self.postgres.start)
        self._record()
        _say(
            f"  postgres 127.0.0.1:{self.postgres.port} (fsync {'off' if self.options.pg_fast_unsafe else 'on'})"
        )
        self.broker = EmbeddedBroker(self.logs / "broker.log")
        await asyncio.to_thread(self.broker.start)
        self._record()
        _say(f"  broker   {self.broker.bootstrap}")
        if self.options.sms_path:
            await self._start_sms_path()
        if self.options.complaints:
            self.complaints_dsn = await ensure_database(self.postgres.dsn(), "vas_complaints")
            self.complaints = ServiceProcess(COMPLAINTS, self._complaints_env(), self.logs / "complaints.log")
            await self.complaints.start()
            self._record()
            _say(f"  complaints {self.complaints.url}")
        if self.options.incident:
            self.incident_dsn = await ensure_database(self.postgres.dsn(), "vas_incident")
            env = self._common_env("INCIDENT_", self.incident_dsn) | self.options.incident_env
            self.incident = ServiceProcess(INCIDENT, env, self.logs / "incident.log")
            await self.incident.start()
            self._record()
            _say(f"  incident {self.incident.url}")
        _say(f"stack up in {time.monotonic() - started:.1f}s")

    async def _start_sms_path(self) -> None:
        await self._start_smsc()
        self._record()
        _say(f"  smsc     smpp 127.0.0.1:{self.smsc_smpp_port}, control {self.smsc_url}")
        assert self.postgres is not None
        admin = self.postgres.dsn()
        self.sender_dsn = await ensure_database(admin, "vas_sms_sender")
        self.subscription_dsn = await ensure_database(admin, "vas_subscription")
        # Migrations run at start-up under an advisory lock: let one process create the schema
        # first so the others do not queue behind it.
        self.subscription = ServiceProcess(
            SUBSCRIPTION, self._subscription_env(), self.logs / "subscription.log"
        )
        first_api = ServiceProcess(SMS_SENDER, self._sender_env("api"), self.logs / "sms-sender-api-1.log")
        self.apis.append(first_api)
        await asyncio.gather(self.subscription.start(), first_api.start())
        for i in range(2, self.options.api_procs + 1):
            self.apis.append(
                ServiceProcess(SMS_SENDER, self._sender_env("api"), self.logs / f"sms-sender-api-{i}.log")
            )
        await asyncio.gather(*(p.start() for p in self.apis[1:]))
        self._record()
        _say(f"  subscription {self.subscription.url}; sms-sender API {', '.join(self.api_urls)}")
        await self.set_dispatch(self.dispatch)

    def _complaints_env(self) -> dict[str, str]:
        return self._common_env("COMPLAINTS_", self.complaints_dsn) | self.options.complaints_env

    async def _start_smsc(self) -> None:
        self.smsc_smpp_port = free_port()
        self.smsc_http_port = free_port()
        with (self.logs / "smsc.log").open("ab") as log:
            self.smsc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "vas_devstack.smsc",
                "--smpp-port",
                str(self.smsc_smpp_port),
                "--http-port",
                str(self.smsc_http_port),
                "--receipt-delay-ms",
                str(self.options.receipt_delay_ms),
                "--log-level",
                "WARNING",
                stdout=log,
                stderr=log,
                stdin=asyncio.subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if self.smsc.returncode is not None:
                    raise StackError(f"the SMSC simulator exited at start-up; see {self.logs / 'smsc.log'}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.smsc_url + "/healthz")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise StackError("the SMSC simulator did not answer /healthz in 30 s")
                await asyncio.sleep(0.1)

    def _common_env(self, prefix: str, dsn: str) -> dict[str, str]:
        return {
            f"{prefix}DATABASE_URL": dsn,
            f"{prefix}KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            f"{prefix}OPERATOR_TOKEN": self.operator_token,
            f"{prefix}KAFKA_SESSION_TIMEOUT_MS": str(self.options.kafka_session_timeout_ms),
            f"{prefix}KAFKA_HEARTBEAT_INTERVAL_MS": str(max(300, self.options.kafka_session_timeout_ms // 3)),
            f"{prefix}LOG_LEVEL": self.options.log_level,
            # After a restart of the dev broker (chaos: broker-restart) a topic may come back
            # with fewer partitions; see vas_common.settings.kafka_metadata_max_age_ms.
            f"{prefix}KAFKA_METADATA_MAX_AGE_MS": "5000",
        }

    def _subscription_env(self) -> dict[str, str]:
        return self._common_env("SUBSCRIPTION_", self.subscription_dsn)

    def _sender_env(self, role: str, dispatch: DispatchConfig | None = None) -> dict[str, str]:
        dispatch = dispatch or self.dispatch
        env = self._common_env("SMS_SENDER_", self.sender_dsn)
        env |= {
            "SMS_SENDER_ROLE": role,
            "SMS_SENDER_SMSC_HOST": "127.0.0.1",
            "SMS_SENDER_SMSC_PORT": str(self.smsc_smpp_port),
            # The account's binds, shared by the dispatchers (each takes its share): sized so
            # that each replica gets `binds`, as before the limits were the account's.
            "SMS_SENDER_SMSC_BINDS": str(dispatch.binds * dispatch.replicas),
            "SMS_SENDER_SMSC_TPS": str(dispatch.sender_tps),
            "SMS_SENDER_SMSC_WINDOW": str(dispatch.window),
            "SMS_SENDER_DISPATCH_FETCH_MAX_WAIT_MS": str(FETCH_MAX_WAIT_MS),
        }
        return env | self.options.sender_env

    async def set_dispatch(self, dispatch: DispatchConfig) -> None:
        """(Re)start the dispatchers with this configuration and set the simulator's TPS cap."""
        async with httpx.AsyncClient(timeout=5.0) as client:
            (await client.put(self.smsc_url + "/config", json={"tps": dispatch.smsc_tps})).raise_for_status()
        same_env = dispatch.binds == self.dispatch.binds and dispatch.sender_tps == self.dispatch.sender_tps
        same_env = same_env and dispatch.window == self.dispatch.window
        same_env = same_env and dispatch.replicas == self.dispatch.replicas  # the account's binds
        if not same_env:
            await self.stop_dispatchers()
        self.dispatch = dispatch
        while len(self.dispatchers) > dispatch.replicas:
            await self.dispatchers.pop().stop()
        new: list[ServiceProcess] = []
        while len(self.dispatchers) + len(new) < dispatch.replicas:
            self._dispatcher_seq += 1
            new.append(
                ServiceProcess(
                    SMS_SENDER,
                    self._sender_env("dispatcher", dispatch),
                    self.logs / f"sms-sender-dispatcher-{self._dispatcher_seq}.log",
                )
            )
        await asyncio.gather(*(p.start() for p in new))
        self.dispatchers += new
        self._record()
        _say(f"  dispatch: {dispatch.describe()}")

    async def stop_dispatchers(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.dispatchers))
        self.dispatchers.clear()
        self._record()

    # -- what runs ---------------------------------------------------------------------------

    def named_pids(self) -> dict[str, list[int]]:
        """Process name -> pids (PostgreSQL: the postmaster and its children)."""
        out: dict[str, list[int]] = {}
        if self.postgres is not None:
            pid_file = self.postgres.data_dir / "postmaster.pid"
            with contextlib.suppress(OSError, ValueError, IndexError):
                postmaster = int(pid_file.read_text().splitlines()[0])
                with contextlib.suppress(psutil.Error):
                    out["postgres"] = [postmaster, *(c.pid for c in psutil.Process(postmaster).children())]
        if self.broker is not None and self.broker.process is not None:
            out["broker"] = [self.broker.process.pid]
        if self.smsc is not None:
            out["smsc"] = [self.smsc.pid]
        if self.subscription is not None and self.subscription.process is not None:
            out["subscription"] = [self.subscription.process.pid]
        for i, api in enumerate(self.apis, start=1):
            if api.process is not None:
                out[f"api-{i}" if len(self.apis) > 1 else "api"] = [api.process.pid]
        for i, disp in enumerate(self.dispatchers, start=1):
            if disp.process is not None:
                out[f"dispatcher-{i}"] = [disp.process.pid]
        if self.complaints is not None and self.complaints.process is not None:
            out["complaints"] = [self.complaints.process.pid]
        if self.incident is not None and self.incident.process is not None:
            out["incident"] = [self.incident.process.pid]
        for name, pid in self.extra.items():
            out[name] = [pid]
        return out

    # -- supervision ---------------------------------------------------------------------------

    def supervise(self, policy: RestartPolicy, poll_interval_s: float = 0.2) -> None:
        """Watch the API and dispatcher processes with `make run`'s supervisor: one that exits is
        started again (same port) after the policy's back-off. `crashed()` no longer counts them."""
        supervisor: Supervisor[Restartable] = Supervisor(policy, self._supervisor_say)
        for name, service in self._services():
            child = Restartable(service)
            supervisor.watch(name, child, child.launch, child.ready, service.log_path)
        self.supervisor = supervisor

        async def tick() -> None:
            while True:
                if supervisor.tick():
                    self._record()
                await asyncio.sleep(poll_interval_s)

        self._supervising = asyncio.create_task(tick(), name="supervisor")

    def _supervisor_say(self, message: str) -> None:
        self.supervisor_log.append((time.monotonic(), message))
        _say(f"  supervisor: {message}")

    def _services(self) -> list[tuple[str, ServiceProcess]]:
        """The sms-sender's processes by the names crashed() and named_pids() use."""
        apis = [(f"api-{i}", p) for i, p in enumerate(self.apis, 1)]
        return apis + [(f"dispatcher-{i}", p) for i, p in enumerate(self.dispatchers, 1)]

    def service(self, name: str) -> ServiceProcess:
        return dict(self._services())[name]

    def crashed(self) -> list[str]:
        """Services that exited on their own (not those supervised or held down by a fault)."""
        watched = set(self.supervisor.processes) if self.supervisor is not None else set()
        return [n for n in self._crashed() if n.split(" ")[0] not in watched | self.expected_down]

    def _crashed(self) -> list[str]:
        dead = []
        procs: list[tuple[str, asyncio.subprocess.Process | None]] = [("smsc", self.smsc)]
        if self.subscription is not None:
            procs.append(("subscription", self.subscription.process))
        procs += [(f"api-{i}", p.process) for i, p in enumerate(self.apis, 1)]
        procs += [(f"dispatcher-{i}", p.process) for i, p in enumerate(self.dispatchers, 1)]
        if self.complaints is not None:
            procs.append(("complaints", self.complaints.process))
        if self.incident is not None:
            procs.append(("incident", self.incident.process))
        for name, proc in procs:
            if proc is not None and proc.returncode is not None:
                dead.append(f"{name} (exit {proc.returncode})")
        if (
            self.broker is not None
            and self.broker.process is not None
            and self.broker.process.poll() is not None
        ):
            dead.append(f"broker (exit {self.broker.process.returncode})")
        return dead

    def _record(self) -> None:
        """stack.json in the format `vas_devstack.stack.down` reads."""
        entries: list[dict[str, Any]] = []
        # `down` stops them in this order: the reverse of the start (the broker last but one,
        # PostgreSQL last, with pg_ctl: postgres_data)
        for name, pids in reversed(self.named_pids().items()):
            if name == "postgres":
                continue
            for pid in pids:
                with contextlib.suppress(psutil.Error):
                    entries.append({"name": name, "pid": pid, "started": psutil.Process(pid).create_time()})
        state = {
            "supervisor": os.getpid(),
            "processes": entries,
            "postgres_data": str(self.postgres.data_dir) if self.postgres else None,
        }
        (self.state_dir / "stack.json").write_text(json.dumps(state, indent=2))

    def track(self, name: str, pid: int) -> None:
        self.extra[name] = pid
        self._record()

    def untrack(self, name: str) -> None:
        self.extra.pop(name, None)
        self._record()

    def _start_reaper(self) -> None:
        self._record()
        self._reaper = subprocess.Popen(
            [sys.executable, "-m", "vas_bench.reaper", str(os.getpid()), str(self.state_dir)],
            stdin=subprocess.DEVNULL,
            stdout=(self.logs / "reaper.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the terminal's Ctrl-C, so it can clean up after us
        )

    # -- stop ------------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop everything, in reverse order; every step is tried whatever failed before it."""
        if self._supervising is not None:
            self._supervising.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervising
            self._supervising = None
        if self.supervisor is not None:
            for watched in self.supervisor.processes.values():  # a restart still waiting for /readyz
                if watched.starting is not None and not watched.starting.done():
                    watched.starting.cancel()
                    with contextlib.suppress(BaseException):
                        await watched.starting
            self.supervisor.forget()
        steps: list[tuple[str, Any]] = [("dispatchers", self.stop_dispatchers)]
        if self.complaints is not None:
            steps.append(("complaints", self.complaints.stop))
        if self.incident is not None:
            steps.append(("incident", self.incident.stop))
        steps += [(f"api-{i}", p.stop) for i, p in enumerate(self.apis, 1)]
        if self.subscription is not None:
            steps.append(("subscription", self.subscription.stop))
        steps.append(("smsc", self._stop_smsc))
        for name, stop in steps:
            try:
                await stop()
            except Exception as exc:
                _say(f"  stopping {name} failed: {exc}")
        if self.broker is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.broker.stop)
            self.broker = None
        if self.postgres is not None:
            try:
                await asyncio.to_thread(self.postgres.stop, "fast")
            except Exception as exc:
                _say(f"  stopping postgres failed: {exc}")
            self.postgres = None
        # Anything of ours still alive (a stuck child): kill it.
        for child in psutil.Process().children(recursive=True):
            if self._reaper is not None and child.pid == self._reaper.pid:
                continue
            with contextlib.suppress(psutil.Error):
                _say(f"  killing leftover process {child.pid} ({child.name()})")
                child.kill()
        (self.state_dir / "stack.json").unlink(missing_ok=True)
        if self._reaper is not None:
            self._reaper.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._reaper.wait(5)
        shutil.rmtree(self.state_dir, ignore_errors=True)

    async def _stop_smsc(self) -> None:
        if self.smsc is None or self.smsc.returncode is not None:
            return
        self.smsc.terminate()
        try:
            await asyncio.wait_for(self.smsc.wait(), 10)
        except TimeoutError:
            self.smsc.kill()
            await self.smsc.wait()
