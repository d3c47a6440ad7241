"""Text uploads (txt, csv, md) are judged by whether they decode as text, not by magic numbers:
a register export whose first cell is "0000…" or an XML/JSON note is a text file, a picture or
an archive renamed to .txt is not."""

import io
import zipfile
from pathlib import Path

import pytest

from app.errors import Invalid
from app.services.file_check import check_content

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "说明")
    return buffer.getvalue()


def _check(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / "stored"
    path.write_bytes(content)
    extension = name.rsplit(".", 1)[1]
    return check_content(name, extension, content[:65536], path).mime_type


class TestTextByContent:
    @pytest.mark.parametrize(
        ("name", "content"),
        [
            ("编号.csv", b"0000,0001,0002\r\n0003,0004,0005\r\n"),
            ("零件.csv", "0000123,轴承,10\n0000124,齿轮,5\n".encode()),
            ("接口.txt", b'<?xml version="1.0" encoding="UTF-8"?>\n<a><b>1</b></a>\n'),
            ("配置.txt", b'{"name": "ronghe", "items": [1, 2, 3]}\n'),
            ("说明.md", "# 标题\n\n正文，含中文。\n".encode()),
            ("带BOM.csv", "\ufeff编号,名称\n1,文件控制程序\n".encode()),
            ("国标.txt", "信息化和工业化融合管理体系要求\r\n".encode("gbk")),
            ("国标18030.csv", "编号,名称\n1,𠀀字\n".encode("gb18030")),
            ("空行.txt", b"\n"),
        ],
        ids=[
            "zeros csv",
            "zeros csv with Chinese",
            "xml in txt",
            "json in txt",
            "markdown",
            "utf-8 with bom",
            "gbk",
            "gb18030 four-byte",
            "one line break",
        ],
    )
    def test_text_that_decodes_is_accepted(self, tmp_path: Path, name: str, content: bytes) -> None:
        mime = _check(tmp_path, name, content)
        assert mime.startswith("text/")

    def test_a_utf8_file_whose_multibyte_character_straddles_the_head_is_accepted(
        self, tmp_path: Path
    ) -> None:
        content = b"a" + "中文".encode() * 40000
        assert _check(tmp_path, "长.txt", content) == "text/plain"

    @pytest.mark.parametrize(
        ("name", "content"),
        [
            ("图.txt", PNG),
            ("包.txt", _zip()),
            ("包.csv", _zip()),
            ("程序.md", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"),
            ("控制.txt", b"abc\x01\x02\x03def\x1b[31m"),
            ("尾部.txt", b"plain text\n" * 10000 + PNG),
        ],
        ids=["png", "zip as txt", "zip as csv", "executable", "control bytes", "binary tail"],
    )
    def test_binary_content_is_refused(self, tmp_path: Path, name: str, content: bytes) -> None:
        with pytest.raises(Invalid) as refused:
            _check(tmp_path, name, content)
        assert refused.value.field == "file"
