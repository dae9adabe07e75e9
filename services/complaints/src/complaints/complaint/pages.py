"""The public complaint pages (no login, Chinese only, no JavaScript): the form that opens a web
complaint, and the page where the user follows it with the tracking code and the number's last
four digits. The same use cases as the public JSON API (`api.public_router`).

No CSRF token on these forms: a user has no session here, so a forged post could do nothing the
forger could not do by posting the form himself; the per-number and per-address limits apply to
both alike."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from complaints.complaint.schemas import WebIntakeIn
from complaints.complaint.service import ComplaintNotFound, TooManyComplaints
from complaints.deps import ClientAddress, Complaints
from complaints.sla.domain import SHANGHAI, Category
from vas_common.access import Audience
from vas_common.errors import AppError
from vas_common.msisdn import InvalidMsisdn
from vas_common.pages import Language, Messages, Pages, form_body, page_router, read_form

TEMPLATES = Path(__file__).resolve().parent / "templates"
PREFIX = "/complaints"

public_pages = page_router(Audience.PUBLIC, prefix=PREFIX, tags=["complaints (public pages)"])

_CATEGORY_NAMES = {
    Category.BILLING: "扣费问题",
    Category.SUBSCRIPTION: "订购或退订",
    Category.CONTENT: "内容问题",
    Category.SERVICE: "服务问题",
    Category.FEEDBACK: "意见建议",
    Category.OTHER: "其他",
}

MESSAGES: Messages = {
    Language.ZH_CN: {
        "form_title": "投诉与建议",
        "form_intro": "请填写以下信息。提交后您会看到受理编号，同时收到一条含受理编号的短信。",
        "form_msisdn": "手机号码",
        "form_category": "问题类型",
        "form_product": "业务代码（选填）",
        "form_product_hint": "订购短信或扣费短信中的业务代码，例如 NEWS",
        "form_summary": "请描述您遇到的问题",
        "form_submit": "提交",
        "form_track_link": "已提交过？查询处理进度",
        "track_title": "查询投诉进度",
        "track_received": "您的投诉已受理。请记下受理编号：",
        "track_code": "受理编号",
        "track_last4": "手机号码后四位",
        "track_submit": "查询",
        "track_status": "当前状态",
        "track_category": "问题类型",
        "track_created": "提交时间",
        "track_steps": "处理记录",
        "track_new": "提交新的投诉",
        "error_invalid": "请检查填写的内容：",
        "error_msisdn": "请填写正确的11位手机号码。",
        "error_too_many": "提交次数过多，请稍后再试。",
        "error_not_found": "受理编号或手机号码后四位不正确。",
        "error_unavailable": "系统暂时繁忙，请稍后再试。",
        "status_open": "处理中",
        "status_waiting_on_user": "等待您的回复",
        "status_resolved": "已解决",
        "status_closed": "已办结",
        "step_created": "已受理",
        "step_contacted": "客服已与您联系",
        "step_replied": "已答复",
        "step_waiting_on_user": "等待您的回复",
        "step_user_replied": "您已回复",
        "step_solution_offered": "已提出解决方案",
        "step_resolved": "已解决",
        "step_satisfaction_recorded": "已收到您的评价",
        "step_reopened": "重新处理",
        "step_closed": "已办结",
        "step_escalated": "已转主管跟进",
        "step_refunded": "已退款",
        "step_refund_failed": "退款未成功，客服将与您联系",
    },
}

_TRACKING_CODE = re.compile(r"^[A-Za-z0-9-]{4,20}$")
_LAST_FOUR = re.compile(r"^[0-9]{4}$")


def complaint_pages(provider_name: str) -> Pages:
    return Pages(TEMPLATES, MESSAGES, site_name=provider_name)


def _pages(request: Request) -> Pages:
    pages: Pages = request.app.state.complaint_pages
    return pages


def _render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    response = _pages(request).render(
        request,
        template,
        {
            "categories": [(c.value, name) for c, name in _CATEGORY_NAMES.items()],
            "message": None,
            "form": dict.fromkeys(_FORM_FIELDS, ""),
            "code": "",
            "received": False,
            "complaint": None,
            **context,
        },
        language=Language.ZH_CN,
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"  # a number and a complaint's text
    return response


async def render_error(request: Request, error: AppError) -> Response:
    """An error these pages did not answer themselves (a broken query, the database down): the
    form again with a message, never the staff console's error page."""
    message = "error_unavailable" if error.status >= 500 else "error_invalid"
    return _render(request, "complaint_form.html", {"message": message}, error.status)


_FORM_FIELDS = {
    "msisdn": {"type": "string", "maxLength": 20},
    "category": {"type": "string", "enum": [c.value for c in Category]},
    "product_code": {"type": "string", "maxLength": 20},
    "summary": {"type": "string", "maxLength": 2000},
}


@public_pages.get("/new", summary="The public complaint form")
async def complaint_form(request: Request) -> HTMLResponse:
    return _render(request, "complaint_form.html", {})


@public_pages.post(
    "/new",
    summary="Submit the form: on to the tracking page with the new tracking code",
    openapi_extra=form_body(_FORM_FIELDS, ["msisdn", "category", "summary"]),
    responses={
        303: {"description": "Received: the tracking page with the code"},
        422: {"description": "The form again, with what to correct"},
        429: {"description": "Too many complaints from this number or address: the form again"},
    },
)
async def submit_complaint(request: Request, complaints: Complaints, address: ClientAddress) -> Response:
    fields = await read_form(request)
    form = {name: fields.get(name, "") for name in _FORM_FIELDS}
    try:
        typed = {
            **form,
            "msisdn": re.sub(r"[\s-]", "", form["msisdn"]),  # people type 138 0000 4321
            "product_code": form["product_code"].strip() or None,
        }
        intake = WebIntakeIn.model_validate(typed).intake()
    except (ValidationError, InvalidMsisdn) as invalid:
        message = "error_msisdn" if _about_msisdn(invalid) else "error_invalid"
        return _render(request, "complaint_form.html", {"form": form, "message": message}, 422)
    try:
        complaint = await complaints.open(intake, "user", from_public_form=True, source_address=address)
    except TooManyComplaints as refused:
        response = _render(request, "complaint_form.html", {"form": form, "message": "error_too_many"}, 429)
        response.headers.update({k: v for k, v in refused.headers.items() if k.lower() == "retry-after"})
        return response
    code = quote(complaint.tracking_code, safe="")
    return RedirectResponse(f"{PREFIX}/track?code={code}&received=1", status_code=303)


def _about_msisdn(invalid: ValidationError | InvalidMsisdn) -> bool:
    if isinstance(invalid, InvalidMsisdn):
        return True
    return any(error.get("loc", ())[:1] == ("msisdn",) for error in invalid.errors())


@public_pages.get(
    "/track",
    summary="Follow a complaint: the tracking code and the number's last four digits",
    responses={404: {"description": "No complaint with this code and number: the form again"}},
)
async def track_complaint(request: Request, complaints: Complaints) -> HTMLResponse:
    code = request.query_params.get("code", "").strip()[:20]
    last4 = request.query_params.get("last4", "").strip()
    context: dict[str, Any] = {"code": code, "received": request.query_params.get("received") == "1"}
    if not last4:
        return _render(request, "complaint_track.html", context)
    if not (_TRACKING_CODE.match(code) and _LAST_FOUR.match(last4)):
        return _render(request, "complaint_track.html", {**context, "message": "error_not_found"}, 404)
    try:
        view = await complaints.track(code, last4)
    except ComplaintNotFound:
        return _render(request, "complaint_track.html", {**context, "message": "error_not_found"}, 404)
    c = view.complaint
    shown = {
        "code": c.tracking_code,
        "status": f"status_{c.status.value}",
        "category": _CATEGORY_NAMES[c.category],
        "created": f"{c.created_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}",
        "steps": [
            {"step": f"step_{e.kind.value}", "at": f"{e.occurred_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"}
            for e in view.history
        ],
    }
    return _render(request, "complaint_track.html", {**context, "complaint": shown})
