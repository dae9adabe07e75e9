"""The status page's Atom feed (`GET /status/feed.atom`): incidents opened, each public status
update and resolutions; maintenance scheduled, rescheduled and cancelled (one entry per notice
users were sent); product discontinuations. Entry ids are built from what they announce, so a
reader never sees an entry twice: `urn:vas:incident:{id}:opened`, `…:update:{entry id}`,
`…:resolved:{resolved at}`, `urn:vas:maintenance:{window id}:notice:{n}`,
`urn:vas:product-ending:{product id}:{date}`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import feedgenerator
from fastapi import Request, Response

from incident.maintenance.domain import NoticeKind
from incident.status.api import Status
from incident.status.pages import PREFIX, T, affects, announcement, site_name
from incident.status.schemas import beijing
from incident.status.service import Board
from vas_common.access import Audience
from vas_common.pages import page_router

ATOM_TYPE = "application/atom+xml; charset=utf-8"
MOST_ENTRIES = 100

feed_pages = page_router(Audience.PUBLIC, prefix=PREFIX, tags=["status (public pages)"])


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    text: str
    at: datetime
    anchor: str


def entries(board: Board) -> list[Entry]:
    """The newest `MOST_ENTRIES` of what the page has announced, newest first."""
    found: list[Entry] = []
    for p in board.incidents:
        i = p.incident
        anchor = f"incident-{i.id}"
        where = f"{T['incident_affects']}：{affects(i.services, i.products)}"
        opened_text = f"{T['incident_since']}：{beijing(i.impact_started_at)}。{where}"
        found.append(
            Entry(
                f"urn:vas:incident:{i.id}:opened",
                T["feed_opened"].format(impact=T[f"impact_{i.impact.value}"], title=i.title),
                opened_text,
                i.created_at,
                anchor,
            )
        )
        for u in p.updates:
            text = f"{beijing(u.at)} {u.text}"
            found.append(
                Entry(
                    f"urn:vas:incident:{i.id}:update:{u.entry_id}",
                    T["feed_update"].format(title=i.title),
                    text,
                    u.at,
                    anchor,
                )
            )
        if i.resolved_at is not None:
            text = f"{T['incident_resolved_at']}：{beijing(i.resolved_at)}。{where}"
            found.append(
                Entry(
                    f"urn:vas:incident:{i.id}:resolved:{i.resolved_at.isoformat()}",
                    T["feed_resolved"].format(title=i.title),
                    text,
                    i.resolved_at,
                    anchor,
                )
            )
    windows = {w.id: w for w in board.windows}
    for n in board.notices:
        if n.kind is NoticeKind.REMINDER:
            continue  # a reminder tells nothing new
        w = windows[n.window_id]
        what = affects(w.services, w.product_codes)
        when = T["maintenance_when"].format(start=beijing(n.starts_at), end=beijing(n.ends_at))
        urgent = f"{T['maintenance_emergency']}。" if n.emergency else ""
        found.append(
            Entry(
                f"urn:vas:maintenance:{n.window_id}:notice:{n.notice}",
                T[f"feed_maintenance_{n.kind.value}"].format(what=what),
                f"{urgent}{when}。{w.text_zh}",
                n.published_at,
                f"maintenance-{n.window_id}",
            )
        )
    for product in board.published.products:
        said = announcement(product)
        at = product.discontinued_at or product.discontinue_at
        if said is None or at is None:
            continue
        found.append(
            Entry(
                f"urn:vas:product-ending:{product.product_id}:{at}",
                T["feed_ending"].format(name=said["name"], code=product.product_code),
                f"{said['name']}{said['text']}。{said['reason']}",
                at,
                f"ending-{product.product_code}",
            )
        )
    found.sort(key=lambda e: (e.at, e.id), reverse=True)
    return found[:MOST_ENTRIES]


@feed_pages.get(
    "/feed.atom",
    summary="The status page's updates as an Atom feed",
    response_class=Response,
    responses={200: {"content": {"application/atom+xml": {"schema": {"type": "string"}}}}},
)
async def status_feed(request: Request, status: Status) -> Response:
    board = await status.board()
    page = str(request.url_for("status_page"))
    feed = feedgenerator.Atom1Feed(
        title=f"{site_name(request)} {T['feed_title']}",
        link=page,
        description=T["status_title"],
        language="zh-CN",
        feed_url=str(request.url),
    )
    for e in entries(board):
        feed.add_item(
            title=e.title,
            link=f"{page}#{e.anchor}",
            description=e.text,
            unique_id=e.id,
            updateddate=e.at,
            pubdate=e.at,
        )
    return Response(
        feed.writeString("utf-8"), media_type=ATOM_TYPE, headers={"Cache-Control": "public, max-age=30"}
    )
