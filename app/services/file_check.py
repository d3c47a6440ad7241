"""What an uploaded file may be called and contain: safe names, allowed types, honest content."""

import unicodedata
from dataclasses import dataclass

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
            # The head may end inside a multi-byte character; ignore only that tail.
            head.decode(encoding) if len(head) < 65536 else head[:-4].decode(encoding)
            return True
        except UnicodeDecodeError:
            continue
    return False


def check_content(name: str, extension: str, head: bytes) -> Checked:
    """The content must be what the extension claims (no renamed executables or archives)."""
    try:
        candidates = puremagic.magic_string(head, filename=name)
    except puremagic.PureError:
        candidates = []
    extensions = {c.extension.lower().lstrip(".") for c in candidates}
    if extension in TEXT_EXTENSIONS:
        if _is_text(head) and not (extensions - TEXT_EXTENSIONS - {""}):
            return Checked(name, extension, MIME_BY_TEXT[extension])
    elif extension in extensions or (extension == "jpeg" and "jpg" in extensions):
        mime = next((c.mime_type for c in candidates if c.extension.lstrip(".") == extension), "")
        return Checked(name, extension, mime or "application/octet-stream")
    raise Invalid(
        _("The file's content does not match its extension .%(ext)s.", ext=extension), field="file"
    )
