"""What the console's templates show, made from domain values: times in Beijing time, time
left in words, the attainment chart's geometry. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from complaints.sla.domain import SHANGHAI, ClockKind
from complaints.staff.attainment import Tally
from vas_common.pages import Language


def beijing(moment: datetime | None) -> str:
    """An instant as Beijing time, to the minute."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else ""


def beijing_input(moment: datetime) -> str:
    """An instant as the value of a `datetime-local` input, Beijing time."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def from_beijing_input(text: str) -> datetime:
    """A `datetime-local` value (YYYY-MM-DDTHH:MM[:SS]) taken as Beijing time; ValueError if not."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None or len(text) < 16 or text[10] != "T":
        raise ValueError(f"not a local date and time: {text!r}")
    return parsed.replace(tzinfo=SHANGHAI)


def span(amount: timedelta, language: Language) -> str:
    """A duration in days, hours and minutes, as a person says it."""
    minutes = max(0, int(amount.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if language is Language.ZH_CN:
        units = [(days, "天"), (hours, "小时"), (minutes, "分钟")]
        return "".join(f"{n}{u}" for n, u in units if n) or "0分钟"
    units = [(days, "d"), (hours, "h"), (minutes, "min")]
    return " ".join(f"{n} {u}" for n, u in units if n) or "0 min"


def time_left(due: datetime | None, now: datetime, language: Language) -> str:
    if due is None:
        return ""
    if due > now:
        amount = span(due - now, language)
        return f"还剩{amount}" if language is Language.ZH_CN else f"{amount} left"
    amount = span(now - due, language)
    return f"已超时{amount}" if language is Language.ZH_CN else f"{amount} overdue"


def masked(msisdn: str) -> str:
    """A number as a list shows it: 138****5678 (the full one is on the complaint's page)."""
    national = msisdn[2:] if msisdn.startswith("86") and len(msisdn) == 13 else msisdn
    return national[:3] + "****" + national[-4:] if len(national) >= 8 else national


def percent(share: float | None) -> str:
    return f"{share * 100:.1f}%" if share is not None else "—"


def period_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[first 00:00, the day after last 00:00) in Beijing time."""
    start = datetime(first.year, first.month, first.day, tzinfo=SHANGHAI)
    after = last + timedelta(days=1)
    return start, datetime(after.year, after.month, after.day, tzinfo=SHANGHAI)


# -- the attainment chart: bars of the share met on time per clock, and the target line ------


@dataclass(frozen=True)
class Bar:
    label: str
    value: str  # the share as shown
    x: float
    y: float
    width: float
    height: float
    label_x: float
    meets_target: bool


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    top: int
    bottom: int  # y of the 0 % line
    left: int
    right: int
    bars: list[Bar]
    target_y: float
    target_label: str
    ticks: list[tuple[float, str]]  # (y, "50%")


def attainment_chart(
    by_clock: Mapping[str, Tally], labels: Mapping[str, str], target: float, target_word: str
) -> Chart:
    """A bar per clock that has decided outcomes, in the clocks' order; SVG user units."""
    # the plot, and room on the right for the target line's label
    width, height, left, right, top, bottom = 720, 300, 48, 630, 20, 236
    order = [k.value for k in ClockKind]
    decided: Sequence[tuple[str, Tally]] = [
        (clock, tally)
        for clock, tally in sorted(
            by_clock.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99
        )
        if tally.share_on_time is not None
    ]
    slot = (right - left) / max(1, len(decided))
    bar_width = min(72.0, slot * 0.6)

    def y_of(share: float) -> float:
        return bottom - (bottom - top) * share

    bars = []
    for i, (clock, tally) in enumerate(decided):
        share = tally.share_on_time or 0.0
        x = left + slot * i + (slot - bar_width) / 2
        shown = max(share, 0.01)  # none met on time still shows a sliver, in its colour
        bars.append(
            Bar(
                label=labels.get(clock, clock),
                value=percent(share),
                x=round(x, 1),
                y=round(y_of(shown), 1),
                width=round(bar_width, 1),
                height=round(bottom - y_of(shown), 1),
                label_x=round(x + bar_width / 2, 1),
                meets_target=share >= target,
            )
        )
    ticks = [(round(y_of(s), 1), f"{round(s * 100)}%") for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    return Chart(
        width,
        height,
        top,
        bottom,
        left,
        right,
        bars,
        round(y_of(target), 1),
        f"{target_word} {percent(target)}",
        ticks,
    )
