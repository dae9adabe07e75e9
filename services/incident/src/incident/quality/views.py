"""What the quality pages show, built from the report: the promise rows, the days, the partners,
the SERVQUAL view, and the charts as SVG drawn here (no script, no CDN)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from incident.quality.domain import RELATIVE_ACCURACY, SHANGHAI, Promise
from incident.quality.schemas import SERVQUAL_SOURCES
from incident.quality.service import (
    DayFigures,
    QualityReport,
    Servqual,
    ServqualMonth,
)
from vas_common.pages import Language, Pages

# -- the chart ------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    level: str  # ok | breached
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int
    bottom: int
    bars: list[Bar]
    target_y: float
    target_label: str
    ticks: list[tuple[float, str]]
    first_label: str
    last_label: str


def delay_chart(days: Sequence[DayFigures], target_s: float) -> Chart:
    """A bar per day (its p99 send delay; none: no bar), coloured against the target; SVG units."""
    width, height, left, right, top, bottom = 720, 260, 48, 700, 16, 226
    p99s = [d.delay.p99_s for d in days]
    ceiling = max([target_s * 1.5, *(p for p in p99s if p is not None)])

    def y_of(value: float) -> float:
        return round(bottom - (bottom - top) * min(value, ceiling) / ceiling, 1)

    slot = (right - left) / max(1, len(days))
    bars = [
        Bar(
            x=round(left + slot * i + slot * 0.15, 1),
            y=y_of(p),
            width=round(slot * 0.7, 1),
            height=round(bottom - y_of(p), 1),
            level="ok" if p < target_s else "breached",
            label=f"{d.day.isoformat()} P99 {p:.3f} s",
        )
        for i, (d, p) in enumerate(zip(days, p99s, strict=True))
        if p is not None
    ]
    steps = 4
    ticks = [(y_of(ceiling * k / steps), f"{ceiling * k / steps:.1f}") for k in range(steps + 1)]
    return Chart(
        width,
        height,
        left,
        right,
        bottom,
        bars,
        y_of(target_s),
        f"{target_s:g} s",
        ticks,
        days[0].day.isoformat() if days else "",
        days[-1].day.isoformat() if days else "",
    )


def trend_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    target: float | None = None,
    ceiling: float | None = None,
    percent: bool = False,
    worse_above: bool = True,
) -> Chart:
    """A bar per month (none: no bar), coloured against the target when there is one; SVG units."""
    width, height, left, right, top, bottom = 480, 200, 48, 460, 16, 166
    present = [v for v in values if v is not None]
    top_value = ceiling or max([1.0, *(present or [0.0]), *([target] if target is not None else [])])
    if not percent:
        top_value = 4.0 * max(1, math.ceil(top_value / 4))  # whole-number ticks for counts

    def y_of(value: float) -> float:
        return round(bottom - (bottom - top) * min(value, top_value) / top_value, 1)

    def bad(value: float) -> bool:
        if target is None:
            return value > 0 if worse_above else False
        return value > target if worse_above else value < target

    slot = (right - left) / max(1, len(labels))
    bars = [
        Bar(
            x=round(left + slot * i + slot * 0.2, 1),
            y=y_of(v),
            width=round(slot * 0.6, 1),
            height=round(bottom - y_of(v), 1),
            level="breached" if bad(v) else "ok",
            label=f"{label} {v:.1%}" if percent else f"{label} {v:g}",
        )
        for i, (label, v) in enumerate(zip(labels, values, strict=True))
        if v is not None
    ]
    ticks = [
        (y_of(top_value * k / 4), f"{top_value * k / 4:.0%}" if percent else f"{top_value * k / 4:g}")
        for k in range(5)
    ]
    return Chart(
        width,
        height,
        left,
        right,
        bottom,
        bars,
        y_of(target) if target is not None else -1,
        "" if target is None else (f"{target:.0%}" if percent else f"{target:g}"),
        ticks,
        labels[0] if labels else "",
        labels[-1] if labels else "",
    )


# -- the views ------------------------------------------------------------------------


def number_text(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def share_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.3%}"


def promise_row(p: Promise, t: Mapping[str, str], language: Language) -> dict[str, Any]:
    zh = language is Language.ZH_CN
    if p.met is None:
        met = ("muted", t["quality_met_unknown"])
    else:
        met = ("ok", t["quality_met_yes"]) if p.met else ("breached", t["quality_met_no"])
    return {
        "key": p.key,
        "name": p.name_zh if zh else p.name_en,
        "target": p.target_zh if zh else p.target,
        "measured": p.measured_zh if zh else p.measured,
        "met_class": met[0],
        "met": met[1],
        "source": p.data_source_zh if zh else p.data_source,
    }


def view(report: QualityReport, pages: Pages, language: Language, target_s: float) -> dict[str, Any]:
    t = pages.messages[language]
    return {
        "period": report.period.label,
        "generated": report.generated_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
        "promises": [promise_row(p, t, language) for p in report.promises],
        "chart": delay_chart(report.days, target_s),
        "share_label": t["quality_share"].format(target=f"{target_s:g}"),
        "accuracy": t["quality_accuracy"].format(accuracy=f"{RELATIVE_ACCURACY:.0%}"),
        "days": [
            {
                "day": d.day.isoformat(),
                "messages": d.delay.messages,
                "share": share_text(d.delay.share_within_target),
                "p99": number_text(d.delay.p99_s),
                "max": number_text(d.delay.max_s),
                "mt_peak": d.mt_peak_per_second,
                "mo_peak": d.mo_peak_per_second,
                "busy": number_text(
                    max(
                        (h.mean_per_second for h in (d.mt_busy_hour, d.mo_busy_hour) if h is not None),
                        default=None,
                    ),
                    1,
                ),
            }
            for d in report.days
            if d.delay.messages or d.mt_messages or d.mo_messages
        ],
        "partners": (
            None
            if report.partners is None
            else [
                {
                    "name": t["quality_system"] if p.int == 0 else report.partner_names.get(p, str(p)),
                    "id": None if p.int == 0 or p not in report.partner_names else str(p),
                    "messages": f.messages,
                    "share": share_text(f.share_within_target),
                    "p99": number_text(f.p99_s),
                    "max": number_text(f.max_s),
                }
                for p, f in sorted(report.partners.items())
            ]
        ),
    }


def servqual_view(s: Servqual, pages: Pages, language: Language) -> dict[str, Any]:
    t = pages.messages[language]
    labels = [m.month for m in s.months]
    name = 0 if language is Language.ZH_CN else 1
    separator = "、" if language is Language.ZH_CN else ", "

    def promises(month: ServqualMonth, keys: list[str]) -> str:
        """The promises by name in the page's language (the keys are the JSON's)."""
        return separator.join(month.names[k][name] if k in month.names else k for k in keys)

    rows = [
        {
            "month": m.month,
            "judged": m.promises_judged,
            "met": m.promises_met,
            "gap3": m.gap3,
            "not_met": promises(m, m.not_met) or t["servqual_none"],
            "cannot_say": promises(m, m.cannot_say) or t["servqual_none"],
            "incidents": m.incidents,
            "published": m.published,
            "gap4": m.gap4,
            "pub_delay": "—" if m.publication_median_s is None else f"{m.publication_median_s / 60:.1f} min",
            "outages": m.outages,
            "replies": m.reply_count,
            "by_score": [m.replies.get(score, 0) for score in range(1, 6)],
            "mean": number_text(m.mean_score, 2),
            "satisfied": share_text(m.satisfied_share),
            "gap5_class": (
                "muted"
                if m.satisfied_share is None
                else ("ok" if m.satisfied_share >= s.satisfied_target else "breached")
            ),
        }
        for m in s.months
    ]
    return {
        "month": s.month,
        "generated": s.generated_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
        "current": rows[-1],
        "trend": rows,
        "expected": f"{s.satisfied_target:.0%}",
        "charts": {
            "gap3": trend_chart(labels, [float(m.gap3) for m in s.months]),
            "gap4": trend_chart(labels, [float(m.gap4) for m in s.months]),
            "gap5": trend_chart(
                labels,
                [m.satisfied_share for m in s.months],
                target=s.satisfied_target,
                ceiling=1.0,
                percent=True,
                worse_above=False,
            ),
        },
        "sources": SERVQUAL_SOURCES,
        "title": t["servqual_title"].format(month=s.month),
    }


# -- the routes -----------------------------------------------------------------------
