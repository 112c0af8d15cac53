"""Text decoding: BOMs, UTF-8, legacy Western encodings, and refusing to guess at noise."""

from __future__ import annotations

import os

import pytest

from ingest.decode import decode_text
from ingest.errors import DecodeError

pytestmark = pytest.mark.unit

FRENCH = "Le café était froid ; l'élève a noté « très bien » — même après la mise à jour."
FRENCH_LATIN1 = "Le café était froid ; l'élève a noté « très bien », même après la mise à jour."
GERMAN = "Übergrößenträger fahren auf der Straße."  # short: the detector alone says Shift-JIS


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
@pytest.mark.parametrize("text", [FRENCH_LATIN1, GERMAN, "Grüße"])
def test_western_legacy_encodings(text: str, encoding: str) -> None:
    assert decode_text(text.encode(encoding)) == text


def test_cp1252_punctuation() -> None:
    text = "“Smart quotes” – and the € sign…"
    assert decode_text(text.encode("cp1252")) == text


@pytest.mark.parametrize(
    "encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be", "utf-8-sig"]
)
def test_byte_order_marks(encoding: str) -> None:
    # The explicit-endian codecs write no BOM of their own; add one as a real file would have.
    bom = "\ufeff".encode(encoding) if encoding.endswith(("-le", "-be")) else b""
    assert decode_text(bom + FRENCH.encode(encoding)) == FRENCH


def test_utf8_without_bom() -> None:
    assert decode_text("naïve — 東京".encode()) == "naïve — 東京"


def test_newlines_normalised() -> None:
    assert decode_text(b"a\r\nb\rc\n") == "a\nb\nc\n"
    assert decode_text("a\r\nb".encode("utf-16")) == "a\nb"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Привет, как дела? Это тестовый текст на русском языке.", "cp1251"),
        ("Zażółć gęślą jaźń, pójdź w kąt.", "cp1250"),
    ],
)
def test_other_legacy_encodings_not_forced_into_cp1252(text: str, encoding: str) -> None:
    assert decode_text(text.encode(encoding)) == text


def test_noise_is_refused() -> None:
    with pytest.raises(DecodeError, match="no credible text encoding"):
        decode_text(os.urandom(2048))


def test_broken_utf16_after_bom_is_refused() -> None:
    with pytest.raises(DecodeError, match="utf-16"):
        decode_text(b"\xff\xfe" + "ok".encode("utf-16-le") + b"\x00\xd8")


def test_declared_encoding_used_after_utf8() -> None:
    russian = "Привет мир"
    assert decode_text(russian.encode("cp1251"), declared="windows-1251") == russian
    # A page that says Latin-1 but is really UTF-8 is read as UTF-8 ...
    assert decode_text("crème".encode(), declared="iso-8859-1") == "crème"
    # ... and "iso-8859-1" means cp1252, as in browsers, so curly quotes survive.
    assert decode_text("“crème”".encode("cp1252"), declared="iso-8859-1") == "“crème”"
    assert decode_text("crème".encode("cp1252"), declared="no-such-codec") == "crème"
