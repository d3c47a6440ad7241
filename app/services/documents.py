"""A document's outline: title, facts, sections with paragraphs and tables.

Services build a `Report`; `app.web.documents` writes it as a print page, a PDF or a Word file,
so the three forms always say the same thing.
"""

from dataclasses import dataclass, field


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    heading: str
    paragraphs: list[str] = field(default_factory=list)
    table: Table | None = None
    empty: str = ""  # said when there are neither paragraphs nor rows


@dataclass
class Report:
    title: str
    facts: list[tuple[str, str]]  # label, value: shown as a small table under the title
    sections: list[Section]
    filename: str  # without extension, ASCII
    back_url: str = "/"
