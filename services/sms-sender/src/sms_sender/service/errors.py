"""The errors the sms-sender's use cases declare (rendered as problem+json with these codes)."""

from __future__ import annotations

from vas_common.errors import AppError, Conflict, NotFound, ValidationFailed


class ContentRejected(ValidationFailed):
    code = "content_rejected"
    title = "The content failed the sensitive-word review"


class SignatureRequired(ValidationFailed):
    code = "signature_missing"
    title = "The approved signature is missing"


class ContentEmpty(ValidationFailed):
    code = "content_empty"
    title = "The content has no text to send"


class NoValidRecipients(ValidationFailed):
    code = "no_valid_recipients"
    title = "No recipient can receive this message"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    title = "Too many messages"


class IdempotencyConflict(Conflict):
    code = "idempotency_key_reused"
    title = "The Idempotency-Key was used with a different request"


class ContentNeedsProduct(ValidationFailed):
    code = "content_needs_product"
    title = "Content must name the product it belongs to"


class ProductNotOwned(ValidationFailed):
    code = "product_not_owned"
    title = "The product is not one of yours"


class ExtCodeNotAllowed(ValidationFailed):
    code = "ext_code_not_allowed"
    title = "An extension needs an access number of your own"


class SourceTooLong(ValidationFailed):
    code = "source_too_long"
    title = "The access number and extension are longer than an SMS source address may be"


class CallbackSecretMissing(ValidationFailed):
    code = "callback_secret_missing"
    title = "Create a callback secret before asking for callbacks"


class CallbackUrlForbidden(ValidationFailed):
    code = "callback_url_forbidden"
    title = "Callbacks are not sent to this URL"


class MessageNotFound(NotFound):
    code = "message_not_found"
    title = "No such message"


class InvalidCursor(ValidationFailed):
    code = "invalid_cursor"
    title = "Not a cursor this API handed out"
