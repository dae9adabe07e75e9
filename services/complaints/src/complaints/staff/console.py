"""The staff console: server-rendered pages on the suite's layout, in Chinese (English with
?lang=en), working without JavaScript.

- `/staff/login`: the sign-in form (public); a staff page asked for without a session answers
  401 with this form, which brings the person back to the page after signing in.
- `/staff/complaints`: the queue, the complaint due first at the top, each row coloured by its
  SLA state; `/staff/complaints/{id}`: the complaint, its clocks and timeline, and the forms to
  reply, log a call (also late), wait on the user, resolve, or record something else.
- `/staff/calendar`: a year's holidays, make-up working days and overrides (any staff member
  reads; administrators add and remove overrides).
- `/staff/attainment`: deadlines met on time per clock, channel, category and partner for a
  period, with a bar chart drawn on the server (supervisors and administrators).

Every form is a POST with a CSRF token (vas_common.staff.Csrf) and answers 303 back to its page;
an error is shown on the page with its status, never a 500. Any error a page route raises (401,
403, 404, 422, 503) is rendered as a page by `Console.render_error`.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from fastapi import Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field, ValidationError

from complaints.calendar.api import Calendar
from complaints.calendar.domain import DayKind
from complaints.complaint import domain as complaint_domain
from complaints.complaint.domain import STAFF_EVENTS, ComplaintStatus
from complaints.complaint.schemas import StaffEventKind
from complaints.complaint.service import ComplaintView
from complaints.deps import ClientAddress, Complaints, Member, Staff
from complaints.report.service import ReportService
from complaints.sla.domain import SHANGHAI, Category, Channel, ClockKind, EventKind
from complaints.staff import views
from complaints.staff.attainment import TARGET_SHARE, Tally, of_report
from complaints.staff.domain import sla_light
from complaints.staff.queue import console_queue
from complaints.staff.service import InvalidCredentials, SessionEnded, SignInOff, TooManyFailedSignIns
from vas_common.access import Audience
from vas_common.clock import Clock
from vas_common.errors import AppError, BadRequest, Unauthorized, ValidationFailed
from vas_common.pages import Language, Pages, form_body, page_router, read_form, staff_language
from vas_common.staff import (
    CSRF_FIELD,
    Csrf,
    Role,
    StaffMember,
    clear_session_cookie,
    require_role,
    set_session_cookie,
)
from vas_common.types import EARLIEST_YEAR, LATEST_YEAR, MultiLineText, SingleLineText

logger = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
HOME = "/staff/complaints"
LOGIN = "/staff/login"

public_pages = page_router(Audience.PUBLIC, prefix="/staff", tags=["staff console"])
staff_pages = page_router(Audience.STAFF, prefix="/staff", tags=["staff console"])

FormT = TypeVar("FormT", bound=BaseModel)


# -- forms ----------------------------------------------------------------------------------

_CsrfToken = Field(default="", max_length=200, description="the form's CSRF token (from the page)")


class SignInForm(BaseModel):
    csrf_token: str = _CsrfToken
    login: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)
    next: str = Field(default="", max_length=500, description="the staff page to go back to")


class EventForm(BaseModel):
    csrf_token: str = _CsrfToken
    kind: StaffEventKind  # type: ignore[valid-type]
    note: MultiLineText = Field(default="", max_length=4000)
    occurred_at: str = Field(
        default="",
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?$",
        description="Beijing time (a datetime-local input); empty: now",
    )


class OverrideForm(BaseModel):
    csrf_token: str = _CsrfToken
    day: date
    kind: Literal["workday", "holiday"]
    note: SingleLineText = Field(default="", max_length=200)


class CsrfForm(BaseModel):
    csrf_token: str = _CsrfToken


def _form_doc(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    return form_body(schema["properties"], schema.get("required", []))


# What a form's POST answers besides the errors of every page route (the page shows the error).
_SEE_OTHER: dict[int | str, dict[str, Any]] = {
    303: {"description": "Done: back to the page (Post/Redirect/Get)"},
    403: {
        "description": "`csrf_failed`: the form's CSRF token is missing or wrong; or the role does not allow it"
    },
}
_SIGN_IN = {
    **_SEE_OTHER,
    401: {"description": "Wrong login or password: the form again"},
    429: {"description": "Too many failed sign-ins for this login from this address"},
}
_EVENT = {
    **_SEE_OTHER,
    409: {"description": "The complaint's state does not allow it: the page with the error"},
}


# -- the console ----------------------------------------------------------------------------


class Console:
    """Renders the console's pages: the shared layout, the language, the signed-in member and
    the CSRF token every form carries."""

    def __init__(self, pages: Pages, csrf: Csrf, clock: Clock) -> None:
        self.pages = pages
        self.csrf = csrf
        self.clock = clock

    def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        member: StaffMember | None,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        nonce, new = self.csrf.nonce(request)
        language = staff_language(request)
        response = self.pages.render(
            request,
            template,
            {
                "me": member,
                "nav": _nav(member, request.url.path),
                "csrf_field": CSRF_FIELD,
                "csrf": self.csrf.token(nonce, member.session_id if member else None),
                "lang_query": f"?lang={language.value}" if request.query_params.get("lang") else "",
                **context,
            },
            language=language,
            offer_languages=True,
            status_code=status,
        )
        response.headers.update(headers or {})
        response.headers["Cache-Control"] = "no-store"  # staff pages hold personal data
        if new:
            self.csrf.set_nonce(response, request, nonce)
        return response

    async def form(self, request: Request, model: type[FormT], member: StaffMember | None) -> FormT:
        """The posted form, its CSRF token checked when the browser's cookie is what signed the
        request in (or for the sign-in form, before any session); 422 when a field is invalid."""
        fields = {name: value for name, value in (await read_form(request)).items() if value != ""}
        if member is None or getattr(request.state, "staff_from_cookie", False):
            self.csrf.check(request, fields.get(CSRF_FIELD), member.session_id if member else None)
        try:
            return model.model_validate(fields)
        except ValidationError as invalid:
            names = sorted({str(e["loc"][0]) for e in invalid.errors() if e.get("loc")})
            raise ValidationFailed("invalid: " + ", ".join(names), extra={"fields": names}) from invalid

    async def render_error(self, request: Request, error: AppError) -> Response:
        """Any error of a page route, as a page: a missing or ended session shows the sign-in
        form (401); anything else the error page with the status."""
        if isinstance(error, Unauthorized):
            message = "login_session_ended" if isinstance(error, SessionEnded) else "login_needed"
            return self.login_page(request, _back_to(request), message, status=401, headers=error.headers)
        member = (
            request.state.principal
            if isinstance(getattr(request.state, "principal", None), StaffMember)
            else None
        )
        if error.status >= 500:
            logger.warning("page %s answered %d: %s", request.url.path, error.status, error.detail)
        return self.render(
            request,
            "staff_error.html",
            {
                "status": error.status,
                "code": error.code,
                "detail": error.detail,
                "back": _referer_path(request),
            },
            member,
            status=error.status,
            headers={k: v for k, v in error.headers.items() if k.lower() == "retry-after"},
        )

    def login_page(
        self,
        request: Request,
        next_page: str,
        message: str | None = None,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        login: str = "",
    ) -> HTMLResponse:
        return self.render(
            request,
            "staff_login.html",
            {"next": _safe_next(next_page), "message": message, "login": login},
            None,
            status=status,
            headers=headers,
        )


def console(request: Request) -> Console:
    found = request.app.state.staff_console
    assert isinstance(found, Console)
    return found


ConsoleDep = Annotated[Console, Depends(console)]


def _nav(member: StaffMember | None, path: str) -> list[dict[str, Any]]:
    if member is None:
        return []
    links = [("/staff/complaints", "nav_queue", Role.AGENT)]
    links.append(("/staff/attainment", "nav_attainment", Role.SUPERVISOR))
    links.append(("/staff/calendar", "nav_calendar", Role.AGENT))
    return [
        {"href": href, "key": key, "current": path.startswith(href)}
        for href, key, role in links
        if member.has(role)
    ]


def _safe_next(target: str) -> str:
    """Only a console page of this site: never another host (`//evil`, `/\\evil`, `https:`)."""
    if (
        target.startswith("/staff/")
        and not target.startswith(LOGIN)
        and "//" not in target
        and "\\" not in target
        and all(32 < ord(c) < 127 for c in target)
    ):
        return target
    return HOME


def _back_to(request: Request) -> str:
    if request.method == "GET":
        query = f"?{request.url.query}" if request.url.query else ""
        return f"{request.url.path}{query}"
    return _referer_path(request)


def _referer_path(request: Request) -> str:
    referer = request.headers.get("referer", "")
    origin = f"{request.url.scheme}://{request.url.netloc}"
    if referer.startswith(origin + "/"):
        return _safe_next(referer[len(origin) :])
    return HOME


# -- sign-in and out -----------------------------------------------------------------------


@public_pages.get("/login", summary="The staff sign-in form")
async def login_form(
    request: Request,
    ui: ConsoleDep,
    next_page: Annotated[str, Query(alias="next", max_length=500)] = HOME,
) -> HTMLResponse:
    return ui.login_page(request, next_page)


@public_pages.post(
    "/login",
    summary="Sign in with the form: the session cookie, then back to the page asked for",
    responses=_SIGN_IN,
    openapi_extra=_form_doc(SignInForm),
)
async def login(request: Request, ui: ConsoleDep, staff: Staff, address: ClientAddress) -> Response:
    form = await ui.form(request, SignInForm, None)
    try:
        issued = await staff.sign_in(form.login, form.password, address or "unknown")
    except (InvalidCredentials, TooManyFailedSignIns, SignInOff) as refused:
        message = {
            InvalidCredentials: "login_failed",
            TooManyFailedSignIns: "login_throttled",
            SignInOff: "login_off",
        }[type(refused)]
        return ui.login_page(
            request, form.next, message, status=refused.status, headers=refused.headers, login=form.login
        )
    response = RedirectResponse(_safe_next(form.next), status_code=303)
    set_session_cookie(response, request, issued)
    return response


@staff_pages.post(
    "/logout", summary="Sign out of this browser", responses=_SEE_OTHER, openapi_extra=_form_doc(CsrfForm)
)
async def logout(request: Request, ui: ConsoleDep, member: Member) -> Response:
    await ui.form(request, CsrfForm, member)
    response = RedirectResponse(LOGIN, status_code=303)
    clear_session_cookie(response, request)
    return response


# -- the queue and a complaint ---------------------------------------------------------------


@staff_pages.get("/complaints", summary="The queue: open complaints, the one due first at the top")
async def queue_page(
    request: Request, ui: ConsoleDep, complaints: Complaints, calendar: Calendar, member: Member
) -> HTMLResponse:
    now = ui.clock.now()
    language = staff_language(request)
    rows = await console_queue(request.app.state.runtime.db(), complaints, calendar, now)
    entries = [
        {
            "href": f"/staff/complaints/{row.complaint.id}",
            "tracking_code": row.complaint.tracking_code,
            "channel": row.complaint.channel.value,
            "category": row.complaint.category.value,
            "status": row.complaint.status.value,
            "number": views.masked(row.complaint.msisdn),
            "summary": _shortened(row.complaint.summary, 40),
            "light": row.light.value,
            "clock": row.clock.kind.value if row.clock else None,
            "due": views.beijing(row.clock.due_at) if row.clock else "",
            "left": views.time_left(row.clock.due_at, now, language) if row.clock else "",
        }
        for row in rows
    ]
    return ui.render(request, "staff_queue.html", {"rows": entries}, member)


@staff_pages.get(
    "/complaints/{complaint_id}", summary="A complaint: its clocks, timeline and the forms to work it"
)
async def complaint_page(
    request: Request,
    complaint_id: UUID,
    ui: ConsoleDep,
    complaints: Complaints,
    member: Member,
    recorded: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    view = await complaints.view(complaint_id)
    done = recorded if recorded in {k.value for k in STAFF_EVENTS} else None
    return ui.render(
        request, "staff_complaint.html", _complaint_context(view, request, ui, done=done), member
    )


@staff_pages.post(
    "/complaints/{complaint_id}/events",
    summary="Record what happened (reply, call, wait, resolve …) from the complaint's page",
    responses=_EVENT,
    openapi_extra=_form_doc(EventForm),
)
async def record_event(
    request: Request, complaint_id: UUID, ui: ConsoleDep, complaints: Complaints, member: Member
) -> Response:
    try:
        form = await ui.form(request, EventForm, member)
        occurred = None
        if form.occurred_at:
            try:
                occurred = views.from_beijing_input(form.occurred_at)
            except ValueError as exc:
                raise ValidationFailed("invalid: occurred_at", extra={"fields": ["occurred_at"]}) from exc
            if not EARLIEST_YEAR <= occurred.year <= LATEST_YEAR:
                raise ValidationFailed("invalid: occurred_at", extra={"fields": ["occurred_at"]})
        await complaints.record(
            complaint_id, EventKind(form.kind), member.actor, occurred_at=occurred, note=form.note
        )
    except AppError as error:
        if error.status in (401, 403, 404) or isinstance(error, BadRequest):
            raise  # no page of the complaint to show it on, or not this person's to see
        view = await complaints.view(complaint_id)
        context = _complaint_context(view, request, ui, error=error)
        return ui.render(request, "staff_complaint.html", context, member, status=error.status)
    return RedirectResponse(
        f"/staff/complaints/{complaint_id}?recorded={form.kind}#timeline", status_code=303
    )


def _complaint_context(
    view: ComplaintView,
    request: Request,
    ui: Console,
    *,
    done: str | None = None,
    error: AppError | None = None,
) -> dict[str, Any]:
    now = ui.clock.now()
    language = staff_language(request)
    c = view.complaint
    allowed = {kind.value for kind in STAFF_EVENTS if complaint_domain.allowed_in(kind, c.status)}
    main_forms = ["replied", "contacted", "waiting_on_user", "resolved"]
    others = [kind.value for kind in EventKind if kind.value in allowed and kind.value not in main_forms]
    clocks = [
        {
            "kind": clock.kind.value,
            "state": clock.state(now).value,
            "light": sla_light([clock], now).value if clock.stopped_at is None else "ok",
            "started": views.beijing(clock.started_at),
            "due": views.beijing(clock.due_at),
            "stopped": views.beijing(clock.stopped_at),
            "left": views.time_left(clock.due_at, now, language) if clock.stopped_at is None else "",
        }
        for clock in view.clocks
    ]
    timeline = [
        {
            "kind": event.kind.value,
            "at": views.beijing(event.occurred_at),
            "logged_late": views.beijing(event.recorded_at)
            if event.recorded_at - event.occurred_at > timedelta(minutes=2)
            else "",
            "actor": event.actor,
            "note": event.note,
        }
        for event in view.history
    ]
    fields = error.extra.get("fields", []) if error is not None else []
    return {
        "c": c,
        "created": views.beijing(c.created_at),
        "operator_deadline": views.beijing(c.operator_deadline),
        "light": sla_light(view.clocks, now).value,
        "clocks": clocks,
        "timeline": timeline,
        "allowed": allowed,
        "others": others,
        "now_input": views.beijing_input(now),
        "done": done,
        "error": error,
        "error_fields": fields,
        "open": c.status in (ComplaintStatus.OPEN, ComplaintStatus.WAITING_ON_USER),
    }


def _shortened(text: str, length: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= length else line[: length - 1] + "…"


# -- the calendar ----------------------------------------------------------------------------


@staff_pages.get("/calendar", summary="A year's holidays, make-up working days and overrides")
async def calendar_page(
    request: Request,
    ui: ConsoleDep,
    calendar: Calendar,
    member: Member,
    year: Annotated[int | None, Query(ge=EARLIEST_YEAR, le=LATEST_YEAR)] = None,
) -> HTMLResponse:
    return await _calendar(request, ui, calendar, member, year)


async def _calendar(
    request: Request,
    ui: Console,
    calendar: Calendar,
    member: StaffMember,
    year: int | None,
    *,
    error: AppError | None = None,
) -> HTMLResponse:
    shown = await calendar.year(year)
    english = staff_language(request) == Language.EN
    days = [
        {
            "day": d.day.isoformat(),
            "weekday": d.day.weekday(),
            "kind": d.kind.value,
            "source": d.source.value,
            # An official day's name in the page's language; an administrator's note as written.
            "note": d.seeded.note_en if d.seeded and not d.override and english else d.note,
            "by": d.override.updated_by if d.override else "",
            "overridden": d.override is not None,
        }
        for d in shown.days
    ]
    context = {
        "year": shown.year,
        "known_by": shown.known_by.value if shown.known_by else None,
        "hours": f"{shown.hours.start:%H:%M}–{shown.hours.end:%H:%M}",
        "days": days,
        "can_change": member.has(Role.ADMIN),
        "error": error,
        "default_day": f"{shown.year}-{ui.clock.now().astimezone(SHANGHAI):%m-%d}",
    }
    return ui.render(request, "staff_calendar.html", context, member, status=error.status if error else 200)


@staff_pages.post(
    "/calendar/overrides",
    summary="Make a day a working day or a day off (administrators)",
    dependencies=[require_role(Role.ADMIN)],
    responses=_SEE_OTHER,
    openapi_extra=_form_doc(OverrideForm),
)
async def add_override(request: Request, ui: ConsoleDep, calendar: Calendar, member: Member) -> Response:
    form = await ui.form(request, OverrideForm, member)
    try:
        await calendar.set_day(form.day, DayKind(form.kind), form.note, member.actor)
    except ValidationFailed as error:
        return await _calendar(request, ui, calendar, member, None, error=error)
    return RedirectResponse(f"/staff/calendar?year={form.day.year}", status_code=303)


@staff_pages.post(
    "/calendar/overrides/{day}/removal",
    summary="Remove a day's override (administrators)",
    dependencies=[require_role(Role.ADMIN)],
    responses=_SEE_OTHER,
    openapi_extra=_form_doc(CsrfForm),
)
async def remove_override(
    request: Request, day: date, ui: ConsoleDep, calendar: Calendar, member: Member
) -> Response:
    await ui.form(request, CsrfForm, member)
    await calendar.remove_day(day, member.actor)
    return RedirectResponse(f"/staff/calendar?year={day.year}", status_code=303)


# -- attainment --------------------------------------------------------------------------------


class PeriodInvalid(ValidationFailed):
    code = "period_invalid"
    title = "The period must start no later than it ends, and last at most a year"


@staff_pages.get(
    "/attainment",
    summary="Deadlines met on time per clock, channel, category and partner (supervisors)",
    dependencies=[require_role(Role.SUPERVISOR)],
)
async def attainment_page(
    request: Request,
    ui: ConsoleDep,
    member: Member,
    first: Annotated[date | None, Query(alias="from", description="first day, Beijing time")] = None,
    last: Annotated[date | None, Query(alias="to", description="last day, Beijing time")] = None,
) -> HTMLResponse:
    today = ui.clock.now().astimezone(SHANGHAI).date()
    first = first or today.replace(day=1)
    last = last or today
    if first > last or (last - first).days > 366 or first.year < EARLIEST_YEAR or last.year >= LATEST_YEAR:
        raise PeriodInvalid(f"{first} to {last}")
    start, end = views.period_bounds(first, last)
    reports = request.app.state.report_service
    assert isinstance(reports, ReportService)
    figures = of_report(start, end, (await reports.attainment(start, end)).runs)
    t = ui.pages.messages[staff_language(request)]
    chart = views.attainment_chart(
        figures.by_clock,
        {clock: t.get(f"short_{clock}", clock) for clock in figures.by_clock},
        TARGET_SHARE,
        t["attainment_target"],
    )

    def table(groups: dict[Any, Tally], label: Any) -> list[dict[str, Any]]:
        return [
            {
                "label": label(key),
                "met": tally.met,
                "met_late": tally.met_late,
                "breached": tally.breached,
                "running": tally.running,
                "paused": tally.paused,
                "share": views.percent(tally.share_on_time),
                "below": tally.share_on_time is not None and tally.share_on_time < TARGET_SHARE,
            }
            for key, tally in groups.items()
        ]

    def order(groups: dict[Any, Tally], keys: list[str]) -> dict[Any, Tally]:
        return dict(sorted(groups.items(), key=lambda kv: keys.index(kv[0]) if kv[0] in keys else len(keys)))

    context = {
        "first": first.isoformat(),
        "last": last.isoformat(),
        "chart": chart,
        "target": views.percent(TARGET_SHARE),
        "total": table({"total": figures.total}, lambda _k: t["attainment_total"])[0],
        "by_clock": table(
            order(figures.by_clock, [k.value for k in ClockKind]), lambda k: t.get(f"clock_{k}", k)
        ),
        "by_channel": table(
            order(figures.by_channel, [k.value for k in Channel]), lambda k: t.get(f"channel_{k}", k)
        ),
        "by_category": table(
            order(figures.by_category, [k.value for k in Category]), lambda k: t.get(f"category_{k}", k)
        ),
        "by_partner": table(
            dict(sorted(figures.by_partner.items(), key=lambda kv: str(kv[0] or ""))),
            lambda k: str(k) if k else t["attainment_no_partner"],
        ),
        "empty": not figures.by_clock,
    }
    return ui.render(request, "staff_attainment.html", context, member)
