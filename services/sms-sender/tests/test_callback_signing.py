"""How status callbacks are signed, without I/O: Standard Webhooks headers a library verifies,
new secrets in the whsec_ form, secrets from before kept working, the old headers time-bounded."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from sms_sender.domain import callback_headers, new_callback_secret, standard_form

BODY = '{"event_id":"e1","message":{"status":"delivered","content":"回调"}}'.encode()


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    secret = new_callback_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert secret != new_callback_secret()
    assert standard_form(secret) == secret


def test_headers_verify_with_the_library_and_a_changed_body_or_id_does_not() -> None:
    secret = new_callback_secret()
    headers = callback_headers(secret, "e1", BODY, datetime.now(UTC), legacy_until=None)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "e1"
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers)["message"]["content"] == "回调"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"delivered", b"failed"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "e2"})


def test_old_headers_only_for_a_secret_from_before_and_only_until_the_deadline() -> None:
    legacy, now = "Ab-_cd" * 7 + "e", datetime.now(UTC)
    during = callback_headers(legacy, "e1", BODY, now, legacy_until=now + timedelta(seconds=1))
    after = callback_headers(legacy, "e1", BODY, now, legacy_until=now)
    never = callback_headers(legacy, "e1", BODY, now, legacy_until=None)
    fresh = callback_headers(new_callback_secret(), "e1", BODY, now, legacy_until=now + timedelta(days=1))
    assert {"X-VAS-Event-Id", "X-VAS-Timestamp", "X-VAS-Signature"} <= set(during)
    for headers in (after, never, fresh):
        assert not any(h.startswith("X-VAS-") for h in headers)
    for headers in (during, after):
        Webhook(standard_form(legacy)).verify(BODY, headers)
