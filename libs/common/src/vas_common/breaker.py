"""A circuit breaker per key (a host): after `failures` failures in a row the key is open for
`cooldown_s`, then one call goes through as a probe; its success closes it, its failure opens it
again. State is in memory, per process.

Written here rather than taken from purgatory or pybreaker: those wrap the call and count the
exceptions raised inside it, while a caller here must learn that a key is open without calling
(to reschedule work), count an HTTP 5xx answer as a failure, and test it with its own clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class CircuitBreaker:
    def __init__(
        self,
        failures: int,
        cooldown_s: float,
        *,
        probe_wait_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = failures
        self._cooldown_s = cooldown_s
        self._probe_wait_s = probe_wait_s
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}  # only keys whose last call failed

    def wait_before_call(self, key: str) -> float | None:
        """None: call now (a half-open key's first caller becomes its probe). Otherwise the
        seconds after which to ask again."""
        circuit = self._circuits.get(key)
        if circuit is None or circuit.opened_at is None:
            return None
        remaining = circuit.opened_at + self._cooldown_s - self._clock()
        if remaining > 0:
            return remaining
        if circuit.probing:
            return self._probe_wait_s
        circuit.probing = True
        return None

    def succeeded(self, key: str) -> None:
        self._circuits.pop(key, None)

    def failed(self, key: str) -> bool:
        """Count a failure; True when it opened the circuit."""
        circuit = self._circuits.setdefault(key, _Circuit())
        circuit.failures += 1
        if circuit.probing or (circuit.opened_at is None and circuit.failures >= self._threshold):
            circuit.opened_at = self._clock()
            circuit.probing = False
            return True
        return False

    def is_open(self, key: str) -> bool:
        circuit = self._circuits.get(key)
        return circuit is not None and circuit.opened_at is not None
