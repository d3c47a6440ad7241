"""Opening an uploaded workbook for an import without letting it cost more than it should.

A workbook is XML in a zip: a few hundred kilobytes can unpack to gigabytes, and one row of
"shared" formulas (a formula dragged across cells) makes openpyxl rewrite the formula for
every cell, 12 s for 2,000 cells. Both are refused before openpyxl reads a single row.

Even an honest sheet costs openpyxl time for every cell, also those right of the columns an
import reads: 1,000 rows 200 cells wide take about 9 s of CPU. So the sheet is read in a child
process that is killed at a time limit, one or two at a time (app/services/imports/time_limited.py).
"""

import zipfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from xml.parsers import expat

from defusedxml import ElementTree

from app.errors import DomainError, Invalid, Unavailable
from app.i18n import gettext as _
from app.services.imports import time_limited

if TYPE_CHECKING:  # the reading child imports this module; settings would only slow it
    from openpyxl.workbook.workbook import Workbook as Book

    from app.settings import Settings

# A sheet's rows below the header that are not empty: (row number, the cells an import reads).
Sheet = list[tuple[int, list[Any]]]

# zipfile never returns more than an entry's declared size (it then checks the CRC), so
# refusing a large declared total bounds the time and memory of reading. 2,000 rows with long
# texts unpack to about 5 MB.
UNPACKED_MAX_MB = 20


def open_book(path: Path) -> "Book":
    """The workbook opened for reading, or a clear refusal of a damaged or costly file."""
    # imported here: openpyxl costs 0.2–1 s at start and only the reading child needs it
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
            if unpacked > UNPACKED_MAX_MB * 1024 * 1024:
                raise Invalid(
                    _(
                        "The file unpacks to more than %(mb)d MB; remove pictures and unused "
                        "sheets, or split it into smaller files.",
                        mb=UNPACKED_MAX_MB,
                    ),
                    field="file",
                )
            if _has_shared_formula(archive.open(_first_worksheet(archive))):
                raise Invalid(
                    _(
                        "The sheet has formulas filled across cells; copy the cells and paste "
                        "them as values, then import the file again."
                    ),
                    field="file",
                )
        return load_workbook(path, read_only=True, data_only=False)
    except DomainError:
        raise
    except Exception as exc:  # zipfile, expat and openpyxl raise many kinds for a damaged file
        raise Invalid(_("This is not a readable Excel (.xlsx) file."), field="file") from exc


def read_limits(settings: "Settings") -> time_limited.Limits:
    return time_limited.Limits(
        seconds=settings.import_read_seconds, parallel=settings.import_parallel_reads
    )


def sheet_rows(path: Path, *, columns: int, max_rows: int, limits: time_limited.Limits) -> Sheet:
    """The first sheet's rows below the header that are not empty, as (row number, the first
    `columns` cells), or a clear refusal of a damaged file, one with more than `max_rows`, or
    one that takes longer to read than the limit allows."""
    try:
        return time_limited.run(_sheet_rows, path.resolve(), columns, max_rows, limits=limits)
    except time_limited.TimedOut:
        raise Invalid(
            _(
                "Reading the file took more than %(seconds)d seconds; delete unused columns "
                "and sheets, or split it into smaller files.",
                seconds=limits.seconds,
            ),
            field="file",
        ) from None
    except time_limited.Busy:
        raise Unavailable(
            _("Files of other imports are being read right now; try again in a minute."),
            field="file",
        ) from None
    except time_limited.Crashed:
        raise Invalid(_("This is not a readable Excel (.xlsx) file."), field="file") from None


def _sheet_rows(path: Path, columns: int, max_rows: int) -> Sheet:
    """`sheet_rows` itself, run in the child process."""
    book = open_book(path)
    found: Sheet = []
    try:
        sheet = book.worksheets[0]
        for number, raw in enumerate(sheet.iter_rows(min_row=2, values_only=True), start=2):
            # Counted while reading: the sheet's own dimension record can be missing or false.
            if number > max_rows + 1:
                raise Invalid(
                    _(
                        "The sheet has more than %(max)d rows; split it into smaller files.",
                        max=max_rows,
                    ),
                    field="file",
                )
            cells = [_formula_text(c) for c in raw[:columns]] + [None] * (columns - len(raw))
            if any(c not in (None, "") for c in cells):
                found.append((number, cells))
    except DomainError:
        raise
    except Exception as exc:  # a damaged sheet only fails while its rows are read
        raise Invalid(_("This is not a readable Excel (.xlsx) file."), field="file") from exc
    finally:
        book.close()
    return found


def _formula_text(value: Any) -> Any:
    """Array and data-table formulas come back from openpyxl as objects, not as "=…" text;
    as text they are refused like any other formula, and the preview shows what was there."""
    from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula  # see open_book

    if isinstance(value, ArrayFormula):
        return value.text or "="
    if isinstance(value, DataTableFormula):
        return "=TABLE()"
    return value


MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def _first_worksheet(archive: zipfile.ZipFile) -> str:
    """The part of the sheet the imports read (openpyxl's `worksheets[0]`): the first
    worksheet in the workbook's order, which is not the order of the zip's entries. A helper
    sheet after it may hold all the formulas it likes."""
    targets = {
        rel.get("Id"): rel.get("Target", "")
        for rel in ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels")).iter(
            f"{RELATIONSHIPS}Relationship"
        )
    }
    for sheet in ElementTree.fromstring(archive.read("xl/workbook.xml")).iter(f"{MAIN}sheet"):
        target = targets.get(sheet.get(RELATIONSHIP_ID), "")
        part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        if part.startswith("xl/worksheets/"):
            return part
    raise ValueError("no worksheet")  # reported as an unreadable file


class _Found(Exception):
    pass


def _has_shared_formula(part: IO[bytes]) -> bool:
    """Whether the sheet's XML holds a shared formula: a streaming pass, no tree built."""

    def start(name: str, attributes: dict[str, str]) -> None:
        if name.rpartition(" ")[2] == "f" and attributes.get("t") == "shared":
            raise _Found

    def no_doctype(*_args: Any) -> None:
        # A DTD has no place in a sheet, and entity tricks start with one.
        raise ValueError("DOCTYPE in a worksheet")

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = no_doctype
    with part:
        try:
            parser.ParseFile(part)
        except _Found:
            return True
    return False
