"""Reports as a printable page, a PDF and a Word file, all drawn from one outline.

A report is built once as a `Report` (title, facts, sections with paragraphs and tables), so
the three forms always say the same thing. The PDF is the print page run through WeasyPrint
with a Chinese font; it may not fetch anything, so a report can never reach the network.
"""

import re
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from starlette.responses import Response

from app.errors import Unavailable
from app.i18n import current_locale
from app.i18n import gettext as _
from app.services.documents import Report, Table
from app.web.rendering import env, render

PRINT_CSS = Path(__file__).parent.parent / "static" / "print.css"
PDF_MEDIA_TYPE = "application/pdf"
DOCX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# Word picks the East Asian font from this name; it ships with every Chinese Windows.
DOCX_CJK_FONT = "SimSun"


def page(request: Request, report: Report) -> Response:
    """The printable page; the PDF is the same page run through WeasyPrint."""
    return render(request, "reports/document.html", {"report": report, "for_pdf": False})


def pdf(request: Request, report: Report) -> Response:
    return download(pdf_bytes(report), PDF_MEDIA_TYPE, f"{report.filename}.pdf")


def docx(report: Report) -> Response:
    return download(docx_bytes(report), DOCX_MEDIA_TYPE, f"{report.filename}.docx")


def pdf_bytes(report: Report, template: str = "reports/document.html") -> bytes:
    """The print page as a PDF, in the current locale; also used by background jobs."""
    return html_to_pdf(
        env.get_template(template).render(
            {"locale": current_locale.get(), "report": report, "for_pdf": True}
        )
    )


def html_to_pdf(html: str) -> bytes:
    try:  # imported late: loading Pango takes half a second
        from weasyprint import CSS, HTML
    except OSError as exc:  # Pango is a system library; `make test` and the image install it
        raise Unavailable(
            _("PDF export needs the Pango libraries on the server; the Word file works without.")
        ) from exc
    document = HTML(string=html, url_fetcher=_refuse_fetch)
    result: bytes = document.write_pdf(stylesheets=[CSS(filename=str(PRINT_CSS))])
    return result


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> Any:
    raise ValueError(f"reports fetch nothing: {url[:80]}")


# Characters XML 1.0 cannot hold; a pasted control character must not break the Word file.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub("", text)


def docx_bytes(report: Report) -> bytes:
    # imported here: python-docx costs 0.15–0.35 s at start and only the Word writer needs it
    from docx import Document
    from docx.shared import Pt

    document = Document()
    normal = document.styles["Normal"]
    normal.font.name = DOCX_CJK_FONT
    normal.font.size = Pt(10.5)
    normal.element.rPr.rFonts.set(
        "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia", DOCX_CJK_FONT
    )
    document.add_heading(_xml_safe(report.title), level=0)
    _docx_table(document, Table(header=[], rows=[[k, v] for k, v in report.facts]))
    for section in report.sections:
        document.add_heading(_xml_safe(section.heading), level=1)
        for paragraph in section.paragraphs:
            document.add_paragraph(_xml_safe(paragraph))
        if section.table is not None and section.table.rows:
            _docx_table(document, section.table)
        elif not section.paragraphs and section.empty:
            document.add_paragraph(_xml_safe(section.empty))
    buffer = BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _docx_table(document: Any, table: Table) -> None:
    columns = len(table.header) or (len(table.rows[0]) if table.rows else 1)
    grid = document.add_table(rows=0, cols=columns)
    grid.style = "Table Grid"
    if table.header:
        cells = grid.add_row().cells
        for cell, text in zip(cells, table.header, strict=True):
            cell.text = _xml_safe(text)
            for run in cell.paragraphs[0].runs:
                run.bold = True
    for row in table.rows:
        for cell, text in zip(grid.add_row().cells, row, strict=True):
            cell.text = _xml_safe(text)


def download(content: bytes, media_type: str, filename: str) -> Response:
    """A file download; the name is ASCII with an RFC 5987 copy for any other characters."""
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"
            ),
            "X-Content-Type-Options": "nosniff",
        },
    )
