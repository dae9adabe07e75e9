from __future__ import annotations

import socket
import time


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on the port now. Binds as uvicorn, asyncio servers, Tansu
    and PostgreSQL do, with SO_REUSEADDR: without it, connections of a stopped server left in
    TIME-WAIT (about 60 s) made a free port look taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(1)  # where a server fails when two SO_REUSEADDR sockets share the port
        except OSError:
            return False
        return True


def wait_for_port(
    port: int, host: str = "127.0.0.1", timeout_s: float = 30.0, is_alive: object = None
) -> None:
    """Wait until something accepts TCP connections on the port (a start-up condition, not a sleep)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(is_alive) and not is_alive():
            raise RuntimeError(f"process meant to listen on {host}:{port} exited")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s}s")
