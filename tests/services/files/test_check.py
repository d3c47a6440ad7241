"""Text uploads (txt, csv, md) are judged by whether they decode as text, not by magic numbers:
a register export whose first cell is "0000…" or an XML/JSON note is a text file, a picture or
an archive renamed to .txt is not."""

import io
import zipfile
from pathlib import Path

import pytest

from app.errors import Invalid
from app.services.files.check import check_content
from app.services.files.store import HEAD_BYTES

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
    return check_content(name, extension, content[:HEAD_BYTES], path).mime_type


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

    @pytest.mark.parametrize(
        ("name", "content"),
        [
            # Excel's "Unicode Text" export: tab-separated, CRLF, UTF-16 LE with a BOM.
            ("清单.txt", "\ufeff编号\t名称\r\nA-1\t文件控制程序\r\n".encode("utf-16-le")),
            ("记事本.txt", "\ufeff质量方针\n持续改进\n".encode("utf-16-be")),
            ("表.csv", "\ufeff编号,名称\r\n1,𠀀字\r\n".encode("utf-16-le")),
        ],
        ids=["excel unicode text", "utf-16 be", "utf-16 csv with a surrogate pair"],
    )
    def test_utf16_text_with_a_byte_order_mark_is_accepted(
        self, tmp_path: Path, name: str, content: bytes
    ) -> None:
        assert _check(tmp_path, name, content).startswith("text/")

    def test_a_long_utf16_file_whose_surrogate_pair_straddles_the_head_is_accepted(
        self, tmp_path: Path
    ) -> None:
        content = ("\ufeff" + "a" + "𠀀" * 40000).encode("utf-16-le")
        assert _check(tmp_path, "长.txt", content) == "text/plain"

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
            ("伪装.txt", b"\xff\xfe" + PNG),
            ("伪装BE.txt", b"\xfe\xff" + _zip()),
            ("控制16.txt", "\ufeffabc\x01\x02def".encode("utf-16-le")),
            ("半个.txt", "\ufeff文件".encode("utf-16-le") + b"\x41"),
            ("孤立代理.txt", b"\xff\xfe" + b"\x00\xd8" + "文".encode("utf-16-le")),
            ("尾部16.txt", "\ufeff正文\n".encode("utf-16-le") * 20000 + b"\x00\x00"),
        ],
        ids=[
            "png",
            "zip as txt",
            "zip as csv",
            "executable",
            "control bytes",
            "binary tail",
            "png behind a utf-16 bom",
            "zip behind a utf-16 be bom",
            "utf-16 control characters",
            "utf-16 odd length",
            "utf-16 lone surrogate",
            "utf-16 nul tail",
        ],
    )
    def test_binary_content_is_refused(self, tmp_path: Path, name: str, content: bytes) -> None:
        with pytest.raises(Invalid) as refused:
            _check(tmp_path, name, content)
        assert refused.value.field == "file"
