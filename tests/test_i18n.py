"""Every user-facing string has its zh_CN translation, with the same placeholders."""

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "app/i18n/locales/zh_CN/LC_MESSAGES/messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _extract(tmp_path: Path) -> set[str]:
    pot = tmp_path / "fresh.pot"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "pybabel"),
            "--quiet",
            "extract",
            "-F",
            "app/i18n/babel.cfg",
            "-k",
            "N_",
            "-o",
            str(pot),
            ".",
        ],
        check=True,
        cwd=ROOT,
    )
    with pot.open("rb") as f:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}


def test_every_string_in_the_code_has_a_zh_cn_translation(tmp_path: Path) -> None:
    with PO.open("rb") as f:
        catalogue = read_po(f)
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0])
        for m in catalogue
        if m.id and not m.fuzzy and all(m.string if isinstance(m.string, tuple) else (m.string,))
    }
    missing = sorted(_extract(tmp_path) - translated)
    assert missing == [], f"run `make extract-messages` and translate: {missing[:10]}"


def test_translations_keep_their_placeholders() -> None:
    with PO.open("rb") as f:
        for m in read_po(f):
            if not m.id:
                continue
            source = m.id if isinstance(m.id, str) else m.id[0]
            for text in m.string if isinstance(m.string, list | tuple) else (m.string or "",):
                assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(source)), source
