"""The stack's port check sees a port as servers do: free once its listener is gone, even
with connections of the stopped server still in TIME-WAIT (a restart right after `make down`)."""

from __future__ import annotations

import socket
import time

import psutil

from vas_devstack.net import free_port, port_is_free


def time_wait_on(port: int) -> bool:
    return any(
        c.status == psutil.CONN_TIME_WAIT and c.laddr and c.laddr.port == port
        for c in psutil.net_connections(kind="tcp4")
    )


def test_a_port_left_in_time_wait_by_a_stopped_server_is_free() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(1)
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        with client:
            accepted.sendall(b"bye")
            accepted.close()  # the server side closes first: its end of the connection stays in TIME-WAIT
            assert client.recv(16) == b"bye"
            assert client.recv(16) == b""
    # the kernel moves the socket to TIME-WAIT once both FINs are acknowledged
    deadline = time.monotonic() + 5
    while not time_wait_on(port):
        assert time.monotonic() < deadline, "no TIME-WAIT socket on the port"
        time.sleep(0.01)

    assert port_is_free(port)
    # and a server binds it the way the check did
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
        again.listen(1)


def test_a_port_with_a_listener_is_not_free() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert not port_is_free(port)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as everywhere:
        everywhere.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        everywhere.bind(("0.0.0.0", 0))  # noqa: S104 - a listener on every interface holds loopback too
        everywhere.listen(1)
        assert not port_is_free(everywhere.getsockname()[1])
