"""The report as a document a person sends, in Chinese: its sections as label/value rows and the
timeline, times in Beijing time. One source for the HTML print view and the PDF, so the two
never say different things. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from incident.incidents.domain import EntryKind, Incident
from incident.regulator_reports.domain import ImpactFigures, Report, StageRecord, StageState
from incident.regulator_reports.service import ReportView

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOT_YET = "—"
TO_FILL = "（待填写）"

SEVERITY = {"minor": "轻微", "major": "较大", "critical": "严重", "major_outage": "重大通信故障"}
IMPACT = {"full": "服务中断", "partial": "服务部分受损", "maintenance": "维护导致中断"}
STATUS = {"open": "处理中", "mitigated": "影响已消除", "resolved": "已处理完毕", "merged": "已合并"}
SERVICE = {
    "sms-sender": "短信发送",
    "subscription": "业务订购",
    "complaints": "投诉处理",
    "incident": "故障管理",
}
STAGE_STATE = {"pending": "待故障处理完毕后计时", "due": "待报送", "sent": "已报送", "overdue": "已逾期"}
REPORT_STATE = {
    "due": "待报送",
    "sent": "已报送",
    "overdue": "已逾期",
    "withdrawn": "已撤销（不再属于重大通信故障）",
}
ENTRY = {
    EntryKind.OPENED: "创建",
    EntryKind.EDITED: "修改",
    EntryKind.NOTE: "备注",
    EntryKind.STATUS_UPDATE: "对外通报",
    EntryKind.ROLE_ASSIGNED: "指派",
    EntryKind.EVIDENCE: "监测证据",
    EntryKind.SIGNAL_HEALTHY: "监测恢复",
    EntryKind.MITIGATED: "影响消除",
    EntryKind.RESOLVED: "处理完毕",
    EntryKind.REOPENED: "重新打开",
    EntryKind.MERGED: "合并至其他事件",
    EntryKind.ABSORBED: "合并入本事件",
}


@dataclass(frozen=True)
class Section:
    title: str
    rows: list[tuple[str, str]]


@dataclass(frozen=True)
class Document:
    title: str
    subtitle: str
    state: str
    overdue: bool
    sections: list[Section]
    timeline: list[tuple[str, str, str, str]]  # (time, who, what kind, text)
    cause: str
    actions: str
    footer: str


def local(moment: datetime | None) -> str:
    return NOT_YET if moment is None else f"{moment.astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}"


def duration(length: timedelta) -> str:
    minutes = max(0, int(length.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "天"), (hours, "小时"), (minutes, "分钟")) if n]
    return "".join(parts) or "0分钟"


def _stage(name: str, s: StageRecord, now: datetime) -> tuple[str, str]:
    state = s.state(now)
    text = f"截止 {local(s.due_at)}，{STAGE_STATE[state.value]}" if s.due_at else STAGE_STATE[state.value]
    if state is StageState.SENT:
        late = "（逾期报送）" if s.sent_late else ""
        ref = f"，文号 {s.reference}" if s.reference else ""
        text = (
            f"截止 {local(s.due_at)}；已于 {local(s.sent_at)} 由 {s.sent_by} 经 {s.sent_via} 报送{ref}{late}"
        )
    return name, text


def _times(i: Incident, now: datetime) -> Section:
    ended = i.impact_ended_at
    length = duration((ended or now) - i.impact_started_at) + ("" if ended else "（仍在持续）")
    return Section(
        "时间（北京时间）",
        [
            ("影响开始", local(i.impact_started_at)),
            ("发现", local(i.detected_at)),
            ("对外通报", local(i.reported_at)),
            ("影响消除", local(i.mitigated_at)),
            ("处理完毕", local(i.resolved_at)),
            ("影响持续时间", length),
        ],
    )


def _impact(f: ImpactFigures) -> Section:
    if not f.counted:
        return Section("影响范围", [("短信影响", "本事件不涉及短信发送服务，未统计")])
    scope = "、".join(f.products) if f.products else "全部业务"
    return Section(
        "影响范围（根据系统数据统计）",
        [
            ("统计区间", f"{local(f.start)} 至 {local(f.end)}（{scope}）"),
            ("受影响用户", f"{f.users} 人"),
            ("延迟短信", f"{f.delayed} 条（受理至提交超过 {f.delay_threshold_s:g} 秒）"),
            ("发送失败短信", f"{f.failed} 条"),
            (
                "数据来源",
                "短信发送平台消息状态记录（sms.status）：统计区间结束前受理、区间开始后提交（未提交的按受理时间）的延迟或失败短信；用户数按接收号码去重",
            ),
        ],
    )


def document_of(view: ReportView, site_name: str) -> Document:
    r: Report = view.report
    i = view.incident.incident
    now = view.now
    state = r.state(now)
    rule = r.rule
    sections = [
        Section(
            "基本情况",
            [
                ("事件标题", i.title),
                ("事件编号", str(i.id)),
                ("严重程度", SEVERITY.get(i.severity.value, i.severity.value)),
                ("影响类型", IMPACT.get(i.impact.value, i.impact.value)),
                ("受影响服务", "、".join(SERVICE.get(s, s) for s in i.services)),
                ("受影响业务", "、".join(i.products) or "全部业务"),
                ("事件状态", STATUS.get(i.status.value, i.status.value)),
                ("故障概述", i.summary or NOT_YET),
            ],
        ),
        _times(i, now),
        _impact(view.figures),
        Section(
            "报送要求与进度",
            [
                _stage("首报", r.first, now),
                _stage("终报", r.final, now),
                (
                    "适用规则",
                    f"{rule.id}（第{rule.revision}版）：发现后{duration(rule.first_within)}内首报，"
                    f"处理完毕后{duration(rule.final_within)}内终报。{rule.basis}",
                ),
            ],
        ),
    ]
    return Document(
        title=f"重大通信故障报告：{i.title}",
        subtitle=f"报告编号 {r.id}",
        state=REPORT_STATE[state.value],
        overdue=state.value == "overdue",
        sections=sections,
        timeline=[
            (local(e.at), e.actor, ENTRY.get(e.kind, e.kind.value), e.text) for e in view.incident.timeline
        ],
        cause=r.cause or TO_FILL,
        actions=r.actions or TO_FILL,
        footer=f"{site_name} · 生成于 {local(now)}（北京时间）",
    )
