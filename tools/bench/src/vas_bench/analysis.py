"""From raw observations to figures: loss, duplicates, latencies, rates and time series.

Inputs, none of them taken from the service's own account of itself except the receipt time:
- the load generator's records: per accepted message its id, recipient, the monotonic time
  its request was sent and its 202 arrived, and the wall-clock time of that 202;
- what the SMSC simulator saw: per message its destination, `first_received_monotonic`
  (the submit_sm; the simulator answers it at once, so this is the submit_resp time) and its
  duplicates;
- the sms-sender's `messages` table: `done_at` (receipt applied) and `status`, one query.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SEND_DELAY_TARGET_S = 4.0


def percentiles(values: Sequence[float] | np.ndarray) -> dict[str, float | int | None]:
    """p50/p95/p99/max (and min, mean) in milliseconds."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return {"count": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "count": int(arr.size),
        "min_ms": round(float(arr.min()) * 1000, 1),
        "mean_ms": round(float(arr.mean()) * 1000, 1),
        "p50_ms": round(float(p50) * 1000, 1),
        "p95_ms": round(float(p95) * 1000, 1),
        "p99_ms": round(float(p99) * 1000, 1),
        "max_ms": round(float(arr.max()) * 1000, 1),
    }


def per_second(times: Iterable[float], t0: float, length_s: int) -> list[int]:
    """Counts per 1-s bin of times relative to t0, bins 0..length_s-1 (the rest is dropped)."""
    bins = [0] * max(length_s, 0)
    for t in times:
        i = math.floor(t - t0)
        if 0 <= i < length_s:
            bins[i] += 1
    return bins


def latency_by_second(
    points: Iterable[tuple[float, float]], t0: float, length_s: int
) -> dict[str, list[float | None]]:
    """points (event time, latency s) -> per-second p50/p99/max of latency in ms."""
    groups: defaultdict[int, list[float]] = defaultdict(list)
    for t, latency in points:
        i = math.floor(t - t0)
        if 0 <= i < length_s:
            groups[i].append(latency)
    out: dict[str, list[float | None]] = {"p50_ms": [], "p99_ms": [], "max_ms": []}
    for i in range(length_s):
        values = groups.get(i)
        if not values:
            for key in out:
                out[key].append(None)
            continue
        p50, p99 = np.percentile(values, [50, 99])
        out["p50_ms"].append(round(float(p50) * 1000, 1))
        out["p99_ms"].append(round(float(p99) * 1000, 1))
        out["max_ms"].append(round(max(values) * 1000, 1))
    return out


@dataclass
class SmscView:
    """What the simulator saw of this run's destinations."""

    first_mono: dict[str, float]  # destination -> first_received_monotonic of its first message
    duplicate_segments: int  # resent segments of one message
    extra_copies: int  # the same destination seen as more than one message
    incomplete: int
    total_messages: int  # messages the simulator saw in all
    # None: every message was fetched; else the destinations looked up one by one (a sample,
    # for runs longer than the simulator's listing limit)
    looked_up: set[str] | None = None

    @property
    def sampled(self) -> bool:
        return self.looked_up is not None


def smsc_view(
    messages: Sequence[dict[str, Any]], total_messages: int, looked_up: set[str] | None = None
) -> SmscView:
    first: dict[str, float] = {}
    dups = 0
    extra = 0
    incomplete = 0
    for m in messages:
        dest = m["destination"]
        dups += int(m["duplicates"])
        if not m["complete"]:
            incomplete += 1
        if dest in first:
            extra += 1
            first[dest] = min(first[dest], float(m["first_received_monotonic"]))
        else:
            first[dest] = float(m["first_received_monotonic"])
    return SmscView(first, dups, extra, incomplete, total_messages, looked_up)


def analyse_mt(
    lg: dict[str, Any],
    smsc: SmscView,
    db_rows: Sequence[tuple[str, float, float | None, float | None, str]],
    duration_s: float,
    length_s: int,
) -> dict[str, Any]:
    """MT: offered/accepted/seen, loss, duplicates, send delay, receipt delay, series."""
    mt = lg["mt"]
    t0, t0_wall = lg["t0"], lg["t0_wall"]
    messages = mt["messages"]  # [id, recipient, sent, answered, wall]
    accepted = len(messages)
    looked_up = messages if smsc.looked_up is None else [m for m in messages if m[1] in smsc.looked_up]
    seen = [m for m in looked_up if m[1] in smsc.first_mono]
    lost: int = len(looked_up) - len(seen)
    if smsc.sampled:
        # Every destination is unique and the simulator was reset before the run, so the count
        # of messages it saw is this run's; the sample checks that they are the right ones.
        lost = max(lost, accepted - smsc.total_messages)
    send_delay = [smsc.first_mono[m[1]] - m[3] for m in seen]
    send_delay_from_request = [smsc.first_mono[m[1]] - m[2] for m in seen]
    done_by_id = {row[0]: row for row in db_rows}
    receipt_delay: list[float] = []
    statuses: Counter[str] = Counter()
    receipt_points: list[tuple[float, float]] = []
    for m in messages:
        row = done_by_id.get(m[0])
        if row is None:
            statuses["missing_in_db"] += 1
            continue
        statuses[row[4]] += 1
        if row[3] is not None:
            receipt_delay.append(row[3] - m[4])
            receipt_points.append((row[3] - t0_wall + t0, row[3] - m[4]))
    ok_requests = [r for r in mt["requests"] if r[2] == 202]
    api_latency = [r[1] - r[0] for r in ok_requests]
    in_window = sum(1 for m in seen if smsc.first_mono[m[1]] - t0 <= duration_s)
    last_seen = max((smsc.first_mono[m[1]] for m in seen), default=t0)
    steady_from = min(5.0, duration_s / 4)
    steady = sum(1 for m in seen if steady_from <= smsc.first_mono[m[1]] - t0 <= duration_s)
    scale = accepted / len(looked_up) if smsc.sampled and looked_up else 1.0
    result: dict[str, Any] = {
        "requests": {
            "due": mt["requests_due"],
            "not_offered_inflight_cap": mt["requests_skipped"],
            "answered_202": len(ok_requests),
            "errors": mt["errors"],
        },
        "offered": mt["offered"],
        "accepted": accepted,
        "rejected_recipients": mt["rejected"],
        "seen_at_smsc": accepted - lost,
        "lost": lost,
        "duplicates_at_smsc": smsc.duplicate_segments + smsc.extra_copies,
        "incomplete_at_smsc": smsc.incomplete,
        "smsc_lookup": "sample" if smsc.sampled else "all",
        "looked_up": len(looked_up),
        "db_status": dict(statuses),
        "rates_msg_per_s": {
            "offered": round(mt["offered"] / duration_s, 1),
            "accepted": round(accepted / duration_s, 1),
            "smsc_in_window": round(in_window * scale / duration_s, 1),
            "smsc_steady": round(steady * scale / (duration_s - steady_from), 1),
            "smsc_overall": round(len(seen) * scale / max(last_seen - t0, 1e-3), 1),
        },
        "last_submit_after_s": round(last_seen - t0, 2),
        "latency": {
            "api_request": percentiles(api_latency),
            "accept_to_submit_resp": percentiles(send_delay),
            "request_to_submit_resp": percentiles(send_delay_from_request),
            "accept_to_receipt": percentiles(receipt_delay),
        },
        "series": {
            "accepted_per_s": per_second((m[3] for m in messages), t0, length_s),
            "smsc_per_s": per_second((smsc.first_mono[m[1]] for m in seen), t0, length_s),
            "receipts_per_s": per_second((p[0] for p in receipt_points), t0, length_s),
            "send_delay_by_accept_second": latency_by_second(
                ((m[3], smsc.first_mono[m[1]] - m[3]) for m in seen), t0, length_s
            ),
        },
    }
    if smsc.sampled:
        result["series"]["smsc_per_s"] = [round(v * scale) for v in result["series"]["smsc_per_s"]]
    return result


def analyse_mo(lg: dict[str, Any], duration_s: float, length_s: int) -> dict[str, Any]:
    mo = lg["mo"]
    t0 = lg["t0"]
    injected = mo["injected"]  # [source, sent, answered]
    seen: dict[str, list[float]] = mo["seen"]
    sources = {i[0] for i in injected}
    lost = [s for s in sources if s not in seen]
    duplicates = sum(int(seen[s][1]) - 1 for s in sources if s in seen)
    latency = [seen[i[0]][0] - i[2] for i in injected if i[0] in seen]
    return {
        "due": mo["due"],
        "not_offered_inflight_cap": mo["skipped"],
        "injected": len(injected),
        "errors": mo["errors"],
        "seen_on_sms_mo": len(sources) - len(lost),
        "lost": len(lost),
        "duplicates_on_sms_mo": duplicates,
        "rates_msg_per_s": {
            "injected": round(len(injected) / duration_s, 1),
            "seen": round((len(sources) - len(lost)) / duration_s, 1),
        },
        "latency": {
            "inject_http": percentiles([i[2] - i[1] for i in injected]),
            "inject_to_sms_mo": percentiles(latency),
        },
        "series": {
            "injected_per_s": per_second((i[2] for i in injected), t0, length_s),
            "seen_per_s": per_second((seen[s][0] for s in sources if s in seen), t0, length_s),
        },
        # TODO(subscription replies): once the subscription service answers MO (sms.mo ->
        # sms.send-requests -> a reply MT to the user), `mo_replies` in the scenario result
        # measures MO intake -> reply submit_sm at the SMSC (destination = the MO sender).
    }


def mo_replies(lg: dict[str, Any], smsc_first_mono: dict[str, float], length_s: int) -> dict[str, Any]:
    """MO -> reply: when the answer was asked for on sms.send-requests (the subscription
    service's part) and when its submit_sm reached the SMSC (the sms-sender's part), per MO
    sender; the first of each counts."""
    injected = lg["mo"]["injected"]  # [source, sent, answered]
    requested: dict[str, float] = lg["mo"].get("reply_requested", {})
    replied = [
        (smsc_first_mono[i[0]], smsc_first_mono[i[0]] - i[2]) for i in injected if i[0] in smsc_first_mono
    ]
    asked = [requested[i[0]] - i[2] for i in injected if i[0] in requested]
    sent = [smsc_first_mono[s] - t for s, t in requested.items() if s in smsc_first_mono]
    return {
        "replies_seen": len(replied),
        "of_mo_injected": len(injected),
        "reply_requests_seen": len(asked),
        "note": "" if replied else "the subscription service does not reply to MO (yet)",
        "inject_to_reply_submit": percentiles([d for _, d in replied]),
        "inject_to_send_request": percentiles(asked),
        "send_request_to_reply_submit": percentiles(sent),
        "series": {
            "replies_at_smsc_per_s": per_second((t for t, _ in replied), lg["t0"], length_s),
            "reply_requests_per_s": per_second(
                (requested[i[0]] for i in injected if i[0] in requested), lg["t0"], length_s
            ),
        },
    }
