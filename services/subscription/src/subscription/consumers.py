"""Kafka consumers of the subscription service (sms.mo and sms.status arrive with later issues)."""

from __future__ import annotations

from collections.abc import Sequence

from vas_common.app import Runtime
from vas_common.kafka import Subscription


def subscriptions(runtime: Runtime) -> Sequence[Subscription]:
    return ()
