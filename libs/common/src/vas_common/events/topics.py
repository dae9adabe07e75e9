"""Topic names and their partition counts. Created at service start-up (idempotently)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str

    @property
    def dead_letter(self) -> str:
        return f"{self.name}.dlt"


SMS_SUBMIT = Topic("sms.submit")
# Verification codes and notices: their own lane, so bulk content never delays them.
SMS_SUBMIT_PRIORITY = Topic("sms.submit.priority")
SMS_SEND_REQUESTS = Topic("sms.send-requests")
SMS_STATUS = Topic("sms.status")
SMS_MO = Topic("sms.mo")
SUBSCRIPTION_EVENTS = Topic("subscription.events")
COMPLAINT_EVENTS = Topic("complaint.events")
INCIDENT_EVENTS = Topic("incident.events")
# Health reports of each sms-sender dispatcher (binds, send delay, delivery failures), every few
# seconds: the incident service opens and resolves incidents from them (vas_common.events.sms_sender).
SMS_HEALTH = Topic("sms.health")

ALL_TOPICS: tuple[Topic, ...] = (
    SMS_SUBMIT,
    SMS_SUBMIT_PRIORITY,
    SMS_SEND_REQUESTS,
    SMS_STATUS,
    SMS_MO,
    SUBSCRIPTION_EVENTS,
    COMPLAINT_EVENTS,
    INCIDENT_EVENTS,
    SMS_HEALTH,
)
