"""The report as a PDF (A4, Chinese), drawn with reportlab from the same Document as the print
view. The Chinese font is Adobe's standard CID font STSong-Light: named in the PDF, not embedded,
so no font file ships with the service and every PDF reader draws it with its own Song face.
`styles`, `paragraph` and `table` are shared with the other PDFs of the service (incident.quality)."""

from __future__ import annotations

import io
from functools import cache
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from incident.regulator_reports.document import Document

FONT = "STSong-Light"


@cache
def styles() -> dict[str, ParagraphStyle]:
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    base = ParagraphStyle("base", fontName=FONT, fontSize=9.5, leading=14, wordWrap="CJK")
    return {
        "base": base,
        "title": ParagraphStyle("title", parent=base, fontSize=16, leading=22, spaceAfter=4),
        "subtitle": ParagraphStyle("subtitle", parent=base, textColor=colors.grey),
        "h2": ParagraphStyle("h2", parent=base, fontSize=12, leading=18, spaceBefore=10, spaceAfter=4),
        "overdue": ParagraphStyle("overdue", parent=base, textColor=colors.red),
    }


def paragraph(text: str, style: str = "base") -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), styles()[style])


def table(rows: list[list[Paragraph]], widths: list[float], header: bool = False) -> Table:
    grid = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    shaded = ((0, 0), (-1, 0)) if header else ((0, 0), (0, -1))  # the header row, or the label column
    grid.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", shaded[0], shaded[1], colors.whitesmoke),
            ]
        )
    )
    return grid


def render_pdf(doc: Document) -> bytes:
    width = A4[0] - 36 * mm
    story: list[Flowable] = [
        paragraph(doc.title, "title"),
        paragraph(f"{doc.subtitle} · 报送状态：{doc.state}", "overdue" if doc.overdue else "subtitle"),
    ]
    for section in doc.sections:
        story.append(paragraph(section.title, "h2"))
        story.append(
            table([[paragraph(k), paragraph(v)] for k, v in section.rows], [30 * mm, width - 30 * mm])
        )
    for title, text in (("故障原因", doc.cause), ("处置措施", doc.actions)):
        story += [paragraph(title, "h2"), paragraph(text)]
    story.append(paragraph("事件时间线（北京时间）", "h2"))
    rows = [[paragraph("时间"), paragraph("记录人"), paragraph("类型"), paragraph("内容")]]
    rows += [
        [paragraph(at), paragraph(who), paragraph(kind), paragraph(text)]
        for at, who, kind, text in doc.timeline
    ]
    story.append(table(rows, [34 * mm, 32 * mm, 22 * mm, width - 88 * mm], header=True))
    story += [Spacer(1, 8 * mm), paragraph(doc.footer, "subtitle")]
    out = io.BytesIO()
    SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=doc.title,
        author=doc.footer.split(" · ")[0],
        lang="zh-CN",
    ).build(story)
    return out.getvalue()
