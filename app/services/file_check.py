"""What an uploaded file may be called and contain: safe names, allowed types, honest content."""

import codecs
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import puremagic

from app.errors import Invalid
from app.i18n import gettext as _

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


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    for encoding in ("utf-8", "gb18030"):
        try:
            # The head of a longer file may end inside a multi-byte character. Cutting a fixed
            # number of bytes off can cut inside the character before it instead, refusing
            # a Chinese text file by the chance of where 64 KiB falls; the incremental decoder
            # holds back exactly the unfinished tail.
            codecs.getincrementaldecoder(encoding)().decode(head, final=len(head) < 65536)
            return True
        except UnicodeDecodeError:
            continue
    return False


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

    `head` is the start of the stored file at `path`, enough for most types."""
    try:
        candidates = puremagic.magic_string(head, filename=name)
    except puremagic.PureError:
        candidates = []
    extensions = {c.extension.lower().lstrip(".") for c in candidates}
    if extension in TEXT_EXTENSIONS:
        if _is_text(head) and not (extensions - TEXT_EXTENSIONS - {""}):
            return Checked(name, extension, MIME_BY_TEXT[extension])
    elif (extension in extensions or (extension == "jpeg" and "jpg" in extensions)) and (
        extension not in OOXML_FOLDERS.keys() | ODF_TYPES.keys() or _is_package(path, extension)
    ):
        mime = next((c.mime_type for c in candidates if c.extension.lstrip(".") == extension), "")
        return Checked(name, extension, mime or "application/octet-stream")
    raise Invalid(
        _("The file's content does not match its extension .%(ext)s.", ext=extension), field="file"
    )
