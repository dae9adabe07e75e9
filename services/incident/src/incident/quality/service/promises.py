"""Each promise judged from its figures: target, what was measured, met or not, the data it came
from, in English and Chinese. Pure functions of the figures and the targets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from incident.quality import domain
from incident.quality.domain import (
    DelayFigures,
    NoticeCount,
    Promise,
    ReportedRecords,
)
from incident.quality.service.figures import AvailabilityFigures, DayFigures, QualityTargets
from vas_common.events.subscription import SYSTEM_FAILURES


def delay_promise(t: QualityTargets, d: DelayFigures) -> Promise:
    share = d.share_within_target
    return Promise(
        key="send_delay",
        name_zh="短信发送时延",
        name_en="SMS send delay",
        target=f"accept → submit_sm_resp < {t.delay_target_s:g} s for ≥ {t.delay_objective:.1%} of messages",
        measured=(
            "no messages"
            if share is None
            else f"{share:.3%} within {t.delay_target_s:g} s; p99 {_s(d.p99_s)}, max {_s(d.max_s)}"
        ),
        met=None if share is None else share >= t.delay_objective,
        data_source=(
            "sms.status (incident.quality roll-ups: per minute and partner, DDSketch log buckets "
            f"at {domain.RELATIVE_ACCURACY:.0%} relative accuracy; count, share within target and max exact)"
        ),
        target_zh=f"受理至提交应答（submit_sm_resp）时延小于{t.delay_target_s:g}秒的短信不低于{t.delay_objective:.1%}",
        measured_zh=(
            "本期无短信"
            if share is None
            else f"{t.delay_target_s:g}秒内 {share:.3%}；P99 {_s(d.p99_s)}，最大 {_s(d.max_s)}"
        ),
        data_source_zh=(
            f"短信状态事件（sms.status）按分钟、按合作方汇总的时延直方图（对数分桶，百分位相对误差不超过"
            f"{domain.RELATIVE_ACCURACY:.0%}；条数、{t.delay_target_s:g}秒内占比与最大值为精确值）"
        ),
        figures={
            "messages": d.messages,
            "p50_s": d.p50_s,
            "p95_s": d.p95_s,
            "p99_s": d.p99_s,
            "max_s": d.max_s,
            "share_within_target": share,
        },
    )


def capacity_promise(t: QualityTargets, days: list[DayFigures]) -> Promise:
    mt_peak = max((d.mt_peak_per_second for d in days), default=0)
    mo_peak = max((d.mo_peak_per_second for d in days), default=0)
    busy = [h for d in days for h in (d.mt_busy_hour, d.mo_busy_hour) if h is not None]
    busiest = max((h.mean_per_second for h in busy), default=0.0)
    reached = busiest >= t.busy_hour_per_second
    return Promise(
        key="capacity",
        name_zh="处理能力（上下行）",
        name_en="Throughput (MT and MO)",
        target=f"{t.capacity_per_second:g} msg/s each way, ≥ {t.busy_hour_per_second:g} msg/s at the busy hour",
        measured=f"peak MT {mt_peak}/s, MO {mo_peak}/s; busiest hour mean {busiest:.1f}/s",
        # Traffic below the promise proves nothing either way: the benchmark shows the capacity.
        met=True if reached else None,
        data_source=(
            "sms.status (MT at submit_sm_resp) and sms.mo (MO at reception), per-second counts per "
            "minute; busy hour = the day's busiest clock hour (Asia/Shanghai), its mean rate. "
            + (
                ""
                if reached
                else "Traffic stayed below the busy-hour figure: capacity is shown by the benchmark."
            )
        ),
        target_zh=f"上下行各{t.capacity_per_second:g}条/秒，忙时不低于{t.busy_hour_per_second:g}条/秒",
        measured_zh=f"下行峰值 {mt_peak} 条/秒，上行峰值 {mo_peak} 条/秒；最忙小时平均 {busiest:.1f} 条/秒",
        data_source_zh=(
            "短信状态事件（下行按提交应答时间）与上行短信事件（sms.mo），按秒计数；忙时为每日最忙的整点小时的平均速率"
            + ("" if reached else "。本期业务量未达到承诺值，处理能力以性能测试结果为准")
        ),
        figures={
            "mt_peak_per_second": mt_peak,
            "mo_peak_per_second": mo_peak,
            "busy_hour_per_second": busiest,
        },
    )


def availability_promises(t: QualityTargets, figures: list[AvailabilityFigures]) -> list[Promise]:
    measured = [f for f in figures if f.availability is not None]
    worst = min(measured, key=lambda f: f.availability or 0.0, default=None)
    mttrs = [f for f in figures if f.mttr_seconds is not None]
    slowest = max(mttrs, key=lambda f: f.mttr_seconds or 0.0, default=None)
    source = "incident.availability (the incident service's rule: incidents and maintenance windows)"
    source_zh = "故障事件与维护窗口，按事件管理服务的可用性计算规则"
    return [
        Promise(
            key="availability",
            name_zh="系统可用率",
            name_en="Availability",
            target=f"> {t.availability:.1%} per service",
            measured=(
                "not measured"
                if worst is None
                else "; ".join(f"{f.service} {f.availability:.4%}" for f in measured)
            ),
            met=None if worst is None else all((f.availability or 0) > t.availability for f in measured),
            data_source=source,
            figures={f.service: f.availability for f in figures},
            target_zh=f"各服务高于{t.availability:.1%}",
            measured_zh=(
                "未统计"
                if worst is None
                else "；".join(f"{f.service} {f.availability:.4%}" for f in measured)
            ),
            data_source_zh=source_zh,
        ),
        Promise(
            key="mttr",
            name_zh="平均故障修复时间",
            name_en="Mean time to repair",
            target=f"≤ {t.mttr_hours:g} h",
            measured=(
                "no repairs in the period"
                if slowest is None
                else "; ".join(
                    f"{f.service} {(f.mttr_seconds or 0) / 3600:.2f} h ({f.repairs})" for f in mttrs
                )
            ),
            met=True if slowest is None else (slowest.mttr_seconds or 0) <= t.mttr_hours * 3600,
            data_source=source,
            figures={f.service: f.mttr_seconds for f in figures},
            target_zh=f"不超过{t.mttr_hours:g}小时",
            measured_zh=(
                "本期无故障修复"
                if slowest is None
                else "；".join(
                    f"{f.service} {(f.mttr_seconds or 0) / 3600:.2f}小时（{f.repairs}次）" for f in mttrs
                )
            ),
            data_source_zh=source_zh,
        ),
    ]


def notices_promise(
    t: QualityTargets, maintenance: tuple[int, int], changes: dict[str, NoticeCount]
) -> Promise:
    """Maintenance windows started in the period, products discontinued and users suspended in
    it: each noticed at least its required time before."""
    counts = {
        "maintenance": NoticeCount(*maintenance),
        "discontinuation": changes.get("discontinuation", NoticeCount()),
        "suspension": changes.get("suspension", NoticeCount()),
    }
    given = sum(c.given for c in counts.values())
    on_time = sum(c.on_time for c in counts.values())
    en = {
        "maintenance": "maintenance",
        "discontinuation": "discontinuations",
        "suspension": "suspensions",
    }
    zh = {"maintenance": "维护", "discontinuation": "业务下线", "suspension": "暂停服务"}
    listed = ", ".join(f"{en[k]} {c.on_time} of {c.given}" for k, c in counts.items() if c.given)
    listed_zh = "，".join(f"{zh[k]}{c.given}次中{c.on_time}次" for k, c in counts.items() if c.given)
    return Promise(
        key="notices_on_time",
        name_zh="提前通知",
        name_en="Notices on time",
        target=(
            f"maintenance announced ≥ {t.notice_hours:g} h before its start, a discontinuation "
            f"≥ {t.discontinuation_notice_days:g} days and a suspension ≥ {t.suspension_notice_hours:g} h "
            "before it takes effect"
        ),
        measured="no notice due in the period" if not given else f"{on_time} of {given} on time ({listed})",
        met=on_time == given,
        data_source=(
            "maintenance: incident.maintenance windows that started in the period and their notices, "
            "as the availability rule reads them (an emergency or a start announced late is not on "
            "time). Discontinuations and suspensions: subscription.events "
            "(product.discontinuation_scheduled, subscription.suspension_scheduled) for the changes "
            "taking effect in the period, judged by when the users' notices were queued (in the "
            "transaction that scheduled the change; their delivery is the send-delay promise). "
            "A suspension of a number with nothing to suspend told no one and is not counted"
        ),
        figures={
            "given": given,
            "on_time": on_time,
            **{k: {"given": c.given, "on_time": c.on_time} for k, c in counts.items()},
        },
        target_zh=(
            f"维护开始前至少{t.notice_hours:g}小时、业务下线前至少{t.discontinuation_notice_days:g}天、"
            f"暂停服务前至少{t.suspension_notice_hours:g}小时通知"
        ),
        measured_zh="本期无需通知" if not given else f"{given}次中{on_time}次按时通知（{listed_zh}）",
        data_source_zh=(
            "维护：本期开始的维护窗口及其通知（紧急维护或未按时通知的开始时间均不算按时）。业务下线与暂停服务："
            "订购事件（subscription.events）中本期生效的计划变更，按用户通知排队发送的时间判定"
            "（通知与计划在同一事务中写入，其送达计入发送时延承诺）；无可暂停业务的号码未发通知，不计入"
        ),
    )


def registration_promise(t: QualityTargets, r: dict[str, int]) -> Promise:
    """confirmed / (confirmed + failed), per order placed in the period. An expired order
    failed (on us) for every reason subscription.expired gives but never_answered: an answer
    we could not match or read, the confirmation SMS undelivered, or not delivered before
    the order's 24 h ran out; one whose user had the confirmation and never answered is
    counted apart. An expiry published before the event said why is judged by `answered` as
    before (true: failed, answer_unmatched; false: apart). An expiry that says neither is
    counted as failed: with one in the period the figure is a lower bound, met only when
    even the bound reaches the target (below it the data cannot say); without one the rate
    is exact and judged."""
    target = t.registration_success
    confirmed, failed, unknown = r["confirmed"], r["failed"], r["expired_unknown"]
    never = r["never_answered"]
    by_reason = {reason.value: r[f"failed_{reason.value}"] for reason in SYSTEM_FAILURES}
    decided = confirmed + failed + unknown
    rate = confirmed / decided if decided else None
    exact = unknown == 0
    if rate is None:
        met = None
    elif exact:
        met = rate >= target
    else:
        met = True if rate >= target else None
    reasons_en = {
        "answer_unmatched": "answer not matched",
        "confirmation_undelivered": "confirmation SMS undelivered",
        "confirmation_late": "confirmation SMS not delivered in time",
    }
    reasons_zh = {
        "answer_unmatched": "回复无法识别或对应",
        "confirmation_undelivered": "确认短信未送达",
        "confirmation_late": "确认短信未及时送达",
    }
    split_en = "; ".join(f"{reasons_en.get(k, k)} {n}" for k, n in by_reason.items() if n)
    split_zh = "；".join(f"{reasons_zh.get(k, k)} {n}" for k, n in by_reason.items() if n)
    counts = (
        f"{confirmed} confirmed, {failed} failed"
        + (f" ({split_en})" if split_en else "")
        + f", {never} never answered"
        + ("" if exact else f", {unknown} expired without saying whether answered")
        + f", {r['withdrawn']} withdrawn, {r['waiting']} waiting, of {r['orders']} orders"
    )
    counts_zh = (
        f"确认 {confirmed}，失败 {failed}"
        + (f"（{split_zh}）" if split_zh else "")
        + f"，未回复 {never}"
        + ("" if exact else f"，超时未确认且未说明是否回复 {unknown}")
        + f"，撤回 {r['withdrawn']}，待确认 {r['waiting']}，共 {r['orders']} 笔"
    )
    return Promise(
        key="registration_success",
        name_zh="订购成功率",
        name_en="Registration success",
        target=f"≥ {target:.1%} of orders: confirmed / (confirmed + failed for system reasons)",
        measured=(
            "no order decided in the period"
            if rate is None
            else f"{'' if exact else '≥ '}{rate:.3%} ({counts})"
        ),
        met=met,
        data_source=(
            "subscription.events (subscription.requested / confirmed / expired / cancelled / ended), "
            "per order placed in the period. An expired order failed for system reasons (on us) when "
            "its subscription.expired gives the reason answer_unmatched (the user answered: a Y<n> we "
            "could not match, an answer we could not read), confirmation_undelivered (the "
            "confirmation SMS finally failed) or confirmation_late (it was not delivered before the "
            "order's 24 h ran out); failed_by_reason splits them. never_answered (the user had the "
            "confirmation SMS and never answered) is counted apart, as are orders withdrawn before a "
            "Y and those still waiting. An expiry published before the event gave a reason is judged "
            "by whether its user answered, as then; one that says neither (expired_unknown) counts as "
            "failed: then the figure is a lower bound, and below the target this report cannot say "
            "(the subscription service's GET /v1/registration-success has the split from its order "
            "records)."
        ),
        figures={
            "orders": r["orders"],
            "confirmed": confirmed,
            "expired": r["expired"],
            "failed": failed,
            "failed_by_reason": by_reason,
            "never_answered": never,
            "expired_unknown": unknown,
            "withdrawn": r["withdrawn"],
            "waiting": r["waiting"],
            "success_rate": rate if exact else None,
            "success_rate_lower_bound": rate,
        },
        target_zh=f"订购成功率（确认 /（确认 + 因系统原因失败））不低于{target:.1%}",
        measured_zh=(
            "本期无已有结果的订购"
            if rate is None
            else f"{'' if exact else '不低于 '}{rate:.3%}（{counts_zh}）"
        ),
        data_source_zh=(
            "订购事件（subscription.events），按本期下单的订购统计。超时未确认的订购，因系统原因失败的计为失败：用户回复过"
            "但无法识别或对应（answer_unmatched）、确认短信最终未送达（confirmation_undelivered）、确认短信在24小时内"
            "未送达（confirmation_late），按原因分列（failed_by_reason）；确认短信已送达而用户从未回复的另计；"
            "事件未给出原因的（旧事件）按是否回复判断；两者均未说明的按失败计，所得为成功率下限，"
            "下限低于承诺值时本报告无法判定，以订购服务的统计为准"
        ),
    )


def unsubscribe_promise(t: QualityTargets, u: dict[str, Any]) -> Promise:
    target = t.unsubscribe_p99_s
    p99 = u["p99_s"]
    after = u["messages_after"] + u["charges_after"]
    timed_ok = None if p99 is None else p99 <= target
    met = False if after else timed_ok
    return Promise(
        key="unsubscribe",
        name_zh="退订便捷",
        name_en="Unsubscribing is easy",
        target=(
            f"TD / 0000 / 00000 → cancellation effective: p99 ≤ {target:g} s; no message or charge after it"
        ),
        measured=(
            f"{u['cancellations']} cancellations, {u['by_sms']} by SMS: p99 {_s(p99)}, max {_s(u['max_s'])}; "
            f"{u['messages_after']} messages and {u['charges_after']} charges after an unsubscription"
        ),
        met=met,
        data_source=(
            "sms.mo (the user's TD…, 退订…, 取消…, 0000, 00000 or menu number, at reception) and "
            "subscription.events (subscription.cancelled, at its effect): each cancellation is timed "
            "from the user's latest such SMS in the day before it (cancellations by a partner or the "
            "operator have none and are not timed; exact percentiles). After it: sms.status messages "
            "of the product to that user accepted later with no new subscription between, and "
            "billing.charged of the cancelled subscription for a later month, or per message, after "
            "it (the cancellation's month may be billed by the tariff). A status counted before the "
            "cancellation event reached this service is not compared."
        ),
        figures={
            "cancellations": u["cancellations"],
            "timed": u["by_sms"],
            "p50_s": u["p50_s"],
            "p99_s": p99,
            "max_s": u["max_s"],
            "messages_after": u["messages_after"],
            "charges_after": u["charges_after"],
        },
        target_zh=f"发送TD/0000/00000至退订生效 P99 不超过{target:g}秒；退订后无短信、无扣费",
        measured_zh=(
            f"退订 {u['cancellations']} 次，短信退订 {u['by_sms']} 次：P99 {_s(p99)}，最大 {_s(u['max_s'])}；"
            f"退订后短信 {u['messages_after']} 条、扣费 {u['charges_after']} 笔"
        ),
        data_source_zh=(
            "上行短信（sms.mo）与订购事件中的退订（subscription.cancelled）；退订后的短信状态（sms.status）"
            "与扣费事件（billing.charged）"
        ),
    )


def records_promise(
    t: QualityTargets, now: datetime, oldest: dict[str, datetime | None], reported: list[ReportedRecords]
) -> Promise:
    """Per store, its oldest record present against the policy: the incident service's own
    (its incidents, their timeline and the impact trace), measured; the others as a
    supervisor last reported them (no event carries the figure)."""
    days = t.records_days
    own = [at for table, at in oldest.items() if table != "quality_roll_ups" and at is not None]
    stores: dict[str, dict[str, Any]] = {"incident": {"oldest": min(own, default=None), "source": "measured"}}
    by_store = {r.store: r for r in reported}
    for store in domain.REPORTED_STORES:
        r = by_store.get(store)
        stores[store] = (
            {"oldest": None, "source": "not reported"}
            if r is None
            else {
                "oldest": r.oldest_record_at,
                "source": "reported",
                "reported_by": r.reported_by,
                "reported_at": r.reported_at.isoformat(),
                "note": r.note,
            }
        )
    ages = {store: None if v["oldest"] is None else (now - v["oldest"]).days for store, v in stores.items()}
    for store, v in stores.items():
        v["age_days"] = ages[store]
        v["oldest"] = None if v["oldest"] is None else v["oldest"].isoformat()
    missing = [store for store, v in stores.items() if v["source"] == "not reported"]
    listed = ", ".join(
        f"{store} {'–' if a is None else f'{a} d'}"
        + (" (reported)" if stores[store]["source"] == "reported" else "")
        for store, a in ages.items()
    )
    listed_zh = "，".join(
        f"{store} {'–' if a is None else f'{a}天'}"
        + ("（人工上报）" if stores[store]["source"] == "reported" else "")
        for store, a in ages.items()
    )
    return Promise(
        key="records_kept",
        name_zh="记录保存6个月",
        name_en="Records kept 6 months",
        target=f"every store keeps its records ≥ {days} days",
        measured=f"oldest record present, its age now: {listed}"
        + (f"; not reported: {', '.join(missing)}" if missing else ""),
        met=domain.records_met(ages, days),
        data_source=(
            "The incident service's own records read directly (incidents, their timeline, the "
            "message impact trace; deleted only past the retention, refused below 183 days at "
            "start-up). No event carries the oldest record of the sms-sender, subscription or "
            "complaints stores: those are the figures a supervisor last reported "
            "(PUT /v1/quality/records/{store}, read from that service), marked reported, or a gap "
            "when none was. Met when every store holds a record at least the policy's age; a store "
            "younger than that (or one not reported) cannot say."
        ),
        figures={
            "policy_days": days,
            "stores": stores,
            "oldest": {table: None if at is None else at.isoformat() for table, at in oldest.items()},
            "not_reported": missing,
        },
        target_zh=f"各类记录保存不少于{days}天",
        measured_zh=f"各存储现存最早记录距今：{listed_zh}"
        + (f"；未上报：{'、'.join(missing)}" if missing else ""),
        data_source_zh=(
            "事件管理服务自有记录直接读取；短信、订购、投诉服务无相应事件，以主管人工上报的最早记录为准，"
            "未上报的无法判定"
        ),
    )


def content_review_promise(messages: int, blocked: Mapping[str, tuple[int, int]]) -> Promise:
    """Reviewed = sent + blocked: the sms-sender reviews every request at acceptance, and a
    message is sent only when it passed; what it blocked comes from sms.content_rejected (per
    refused request, with the review rule's category). Met when the period saw any traffic (the
    review is on the only accept path); none: the data cannot say."""
    requests = sum(n for n, _ in blocked.values())
    recipients = sum(r for _, r in blocked.values())
    by_category = {category: n for category, (n, _) in blocked.items()}
    listed = ", ".join(f"{category} {n}" for category, n in by_category.items()) or "none"
    listed_zh = "，".join(f"{category} {n}" for category, n in by_category.items()) or "无"
    return Promise(
        key="content_review",
        name_zh="内容审核",
        name_en="Content reviewed",
        target="every message reviewed before it is sent; blocked messages counted per category",
        measured=(
            f"{messages + recipients} messages reviewed: {messages} sent, {recipients} blocked in "
            f"{requests} refused requests (per category: {listed})"
        ),
        met=True if messages or requests else None,
        data_source=(
            "sms.status: every message there passed the sms-sender's sensitive-word review before it was "
            "accepted; sms.content_rejected (on the same topic, one per request the review refused: "
            "partner, message category, the word list's category that matched, recipients named; "
            "neither the text nor the numbers) gives what was blocked, per category, counted on the "
            "Shanghai day of the refusal. Reviewed = sent + blocked. Refusals from before the event "
            "existed are not counted."
        ),
        figures={
            "reviewed": messages + recipients,
            "sent": messages,
            "blocked": recipients,
            "blocked_requests": requests,
            "blocked_by_category": by_category,
            "blocked_recipients_by_category": {category: r for category, (_, r) in blocked.items()},
        },
        target_zh="所有短信发送前均经审核；按类别统计拦截数",
        measured_zh=(
            f"审核 {messages + recipients} 条：发送 {messages} 条，拦截 {recipients} 条"
            f"（{requests} 次请求；按类别：{listed_zh}）"
        ),
        data_source_zh=(
            "短信状态事件：发出的短信均已通过敏感词审核；被拦截的请求产生 sms.content_rejected 事件"
            "（不含内容与号码），按命中的词表类别、按北京时间日统计。审核数 = 发送数 + 拦截数"
        ),
    )


def complaints_promise(runs: dict[str, dict[str, int]]) -> Promise:
    """Attainment per clock over the runs decided in the period: met on time / (met + met late +
    breached), the complaints service's rule. The promise is every clock met on time."""
    clocks = {clock: domain.ClockAttainment.of(outcomes) for clock, outcomes in runs.items()}
    total = domain.ClockAttainment(
        met=sum(a.met for a in clocks.values()),
        met_late=sum(a.met_late for a in clocks.values()),
        breached=sum(a.breached for a in clocks.values()),
    )
    listed = ", ".join(f"{clock} {a.met}/{a.decided}" for clock, a in clocks.items() if a.decided)
    share = total.share
    return Promise(
        key="complaint_clocks",
        name_zh="投诉处理时限",
        name_en="Complaint clocks",
        target="every clock met on time (the complaints service's SLA rules)",
        measured=(
            "no clock decided in the period"
            if share is None
            else f"{share:.2%} met on time ({listed}); {total.past_due} past due"
        ),
        # A run past its due time is a promise broken, whether it stopped late or not at all.
        met=total.past_due == 0,
        data_source=(
            "complaint.events: each clock run told stopped (complaint.clock_stopped: met on time or "
            "late) or breached (complaint.sla_breached, still running past its due time), once per "
            "run; a run counts on the Asia/Shanghai day of its due time (of its start when it "
            "stopped while paused). Attainment = met / (met + met late + breached), as the "
            "complaints service's GET /v1/reports/attainment; runs still running or paused are not "
            "decided yet"
        ),
        figures={
            "decided": total.decided,
            "met": total.met,
            "met_late": total.met_late,
            "breached": total.breached,
            "breaches": total.past_due,
            "attainment_share": share,
            "by_clock": {
                clock: {
                    "met": a.met,
                    "met_late": a.met_late,
                    "breached": a.breached,
                    "attainment_share": a.share,
                }
                for clock, a in clocks.items()
            },
        },
        target_zh="各处理时限均按时完成（投诉处理服务的时限规则）",
        measured_zh=(
            "本期无已判定的时限"
            if share is None
            else f"按时完成 {share:.2%}（{listed}）；超时 {total.past_due} 次"
        ),
        data_source_zh=(
            "投诉事件（complaint.events）：每个时限周期的停止事件（complaint.clock_stopped，按时或超时完成）"
            "与超时事件（complaint.sla_breached，超时仍未完成），每个周期一次；按到期时间（暂停中停止的按开始时间）"
            "所在的北京时间日期统计。达成率 = 按时完成 /（按时完成 + 超时完成 + 超时未完成），与投诉处理服务的达成率报表一致"
        ),
    )


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f} s"


# The promises measured from the rows per user action, which a retention deletes.
FROM_USER_ROWS = frozenset({"registration_success", "unsubscribe", "notices_on_time"})


def not_kept_in_full(promise: Promise, kept_since: datetime) -> Promise:
    """A promise whose rows for part of the period are deleted: what is left is no measure of
    the period, so it is not judged, and says why."""
    since = kept_since.astimezone(domain.SHANGHAI).date().isoformat()
    return replace(
        promise,
        met=None,
        measured=(
            f"not kept in full: the rows per user action before {since} are deleted "
            f"(QUALITY_USER_ROWS_RETENTION_DAYS); what is left: {promise.measured}"
        ),
        measured_zh=f"数据未完整保存：{since}之前的逐笔用户记录已按保存期限删除；剩余数据：{promise.measured_zh}",
        figures={**promise.figures, "user_rows_kept_since": since},
    )
