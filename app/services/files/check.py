"""What an uploaded file may be called and contain: safe names, allowed types, honest content."""

import codecs
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import puremagic

from app.errors import Conflict, Invalid
from app.i18n import gettext as _
from app.services.files.store import HEAD_BYTES

NAME_MAX = 255
TEXT_EXTENSIONS = frozenset({"txt", "csv", "md"})
MIME_BY_TEXT = {"txt": "text/plain", "csv": "text/csv", "md": "text/markdown"}


@dataclass(frozen=True)
class Checked:
    name: str
    extension: str
    mime_type: str


def check_name(name: str, allowed: frozenset[str]) -> tuple[str, str]:
    """A clean original name and its lower-case extension, or a clear refusal."""
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise Invalid(_("Choose a file."), field="file")
    if "/" in name or "\\" in name or name in {".", ".."}:
        raise Invalid(_("The file name must not contain path separators."), field="file")
    if any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in name):
        raise Invalid(_("The file name contains control characters."), field="file")
    if len(name) > NAME_MAX:
        raise Invalid(
            _("The file name is longer than %(max)d characters.", max=NAME_MAX), field="file"
        )
    extension = name.rsplit(".", 1)[1].lower() if "." in name else ""
    if extension not in allowed:
        raise Invalid(
            _(
                "Files of this type are not accepted. Allowed: %(types)s.",
                types=", ".join(sorted(allowed)),
            ),
            field="file",
        )
    return name, extension


# Text has no control characters but tab, line breaks and form feed.
CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F])
CONTROL_CHARACTER = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")
TEXT_CHUNK = 1024 * 1024
# Excel's "Unicode Text" export and Notepad's "Unicode" save UTF-16 and start it with a byte
# order mark; without one, UTF-16 cannot be told from binary, and is not accepted.
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _is_text(head: bytes, path: Path) -> bool:
    """Whether the whole file is text in an encoding Chinese enterprises save in: UTF-8, with
    or without a byte order mark, GB18030 (which contains GBK and GB2312), or UTF-16 with a
    byte order mark.

    Judged by decoding, not by magic numbers: a CSV whose first cell is "0000" looks like
    audio to a sniffer, and XML or JSON is still text in a .txt file."""
    if head.startswith(UTF16_BOMS):
        return _decodes(head, path, "utf-16")
    return _decodes(head, path, "utf-8") or _decodes(head, path, "gb18030")


def _decodes(head: bytes, path: Path, encoding: str) -> bool:
    """Whether the whole file decodes in `encoding` to text without control characters."""
    # Incremental: a chunk may end inside a multi-byte character or a surrogate pair, which
    # the decoder holds back for the next one instead of refusing the file by where the chunk
    # fell.
    decoder = codecs.getincrementaldecoder(encoding)()
    # UTF-8 and GB18030 never use a control byte inside a multi-byte character, so their
    # bytes are checked (deleting is several times faster than a regex); UTF-16 has such
    # bytes in every other place, so its decoded text is.
    by_text = encoding == "utf-16"
    try:
        for chunk in _chunks(head, path):
            text = decoder.decode(chunk)
            if (
                CONTROL_CHARACTER.search(text)
                if by_text
                else len(chunk.translate(None, CONTROL_BYTES)) != len(chunk)
            ):
                return False
        return not CONTROL_CHARACTER.search(decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        return False


def _chunks(head: bytes, path: Path) -> Iterator[bytes]:
    """The head, then the rest of the file if the head is not all of it."""
    yield head
    if len(head) < HEAD_BYTES:
        return
    try:
        with path.open("rb") as file:
            file.seek(len(head))
            while chunk := file.read(TEXT_CHUNK):
                yield chunk
    except FileNotFoundError:
        # Content found already stored, whose orphan housekeeping deleted meanwhile
        # (evidence.add_revision checks the same after inserting its row).
        raise Conflict(_("The file could not be stored; upload it again."), field="file") from None


# Office documents are zip packages, and puremagic names any zip after whatever extension it
# is given; only the parts inside tell a document from a renamed archive. They are read from
# the zip's directory at the end of the file (openpyxl writes [Content_Types].xml last).
OOXML_FOLDERS = {"docx": "word/", "xlsx": "xl/", "pptx": "ppt/"}
ODF_TYPES = {
    "odt": b"application/vnd.oasis.opendocument.text",
    "ods": b"application/vnd.oasis.opendocument.spreadsheet",
}


def _is_package(path: Path, extension: str) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if extension in ODF_TYPES:
                if "mimetype" not in names:
                    return False
                with archive.open("mimetype") as mimetype:
                    return mimetype.read(100).strip() == ODF_TYPES[extension]
    except Exception:  # zipfile raises many kinds for a damaged or crafted archive
        return False
    return "[Content_Types].xml" in names and any(
        n.startswith(OOXML_FOLDERS[extension]) for n in names
    )


def check_content(name: str, extension: str, head: bytes, path: Path) -> Checked:
    """The content must be what the extension claims (no renamed executables or archives).

    `head` is the start of the stored file at `path`, enough for most types; text is read
    to its end."""
    if extension in TEXT_EXTENSIONS:
        if _is_text(head, path):
            return Checked(name, extension, MIME_BY_TEXT[extension])
        raise _mismatch(extension)
    try:
        candidates = puremagic.magic_string(head, filename=name)
    except puremagic.PureError:
        candidates = []
    extensions = {c.extension.lower().lstrip(".") for c in candidates}
    if (extension in extensions or (extension == "jpeg" and "jpg" in extensions)) and (
        extension not in OOXML_FOLDERS.keys() | ODF_TYPES.keys() or _is_package(path, extension)
    ):
        mime = next((c.mime_type for c in candidates if c.extension.lstrip(".") == extension), "")
        return Checked(name, extension, mime or "application/octet-stream")
    raise _mismatch(extension)


def _mismatch(extension: str) -> Invalid:
    return Invalid(
        _("The file's content does not match its extension .%(ext)s.", ext=extension), field="file"
    )
