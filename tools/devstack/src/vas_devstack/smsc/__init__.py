"""SMSC simulator: a separate process speaking SMPP 3.4 as an SMSC, with an HTTP control API.

Used by `make run`, by tests (the `smsc` fixture of `vas_devstack.pytest_plugin`, or
`SmscSimulator` directly) and by benchmarks. `python -m vas_devstack.smsc --help` runs it alone.
"""

from vas_devstack.smsc.records import AssembledMessage, MessageBook, SubmitRecord
from vas_devstack.smsc.simulator import MESSAGE_STATES, ConfigError, SmscConfig, SmscSimulator

__all__ = [
    "MESSAGE_STATES",
    "AssembledMessage",
    "ConfigError",
    "MessageBook",
    "SmscConfig",
    "SmscSimulator",
    "SubmitRecord",
]
