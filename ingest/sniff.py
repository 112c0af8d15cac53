"""Decide which parser a file needs by looking at its content, not its name.

Files in the wild are misnamed (a Jekyll Atom feed saved as `.txt`, Markdown saved as `.txt`),
so magic bytes and markup decide; the extension only breaks ties when the content is plain
enough to be read either way. Only the first 64 KiB are examined (plus a zip's central
directory), which keeps sniffing cheap for large files.

This module does not parse or decode whole files, and it never trusts an extension over
content that clearly says otherwise.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import PurePath

from ingest.decode import bom_encoding
from ingest.errors import UnsupportedFormatError

HEAD_BYTES = 64 * 1024
BINARY_PROBE_BYTES = 8 * 1024
_MAX_CONTROL_RATIO = 0.05  # random bytes have ~10 %; real text has almost none
# C0 controls other than tab/newline/CR/FF/VT, and DEL. ESC (0x1B) is left out on purpose:
# terminal logs are full of colour codes.
_CONTROL_BYTES = frozenset({*range(0x01, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F})

_MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown", ".mdown", ".mkd", ".mkdn", ".mdx"})
_HTML_EXTENSIONS = frozenset({".html", ".htm", ".xhtml"})
# Source and data files often have "# comment" lines or "**" that look like Markdown; rendering
# them as Markdown would eat `__init__` and `*args`, so for these the name breaks the tie.
_PLAIN_EXTENSIONS = frozenset(
    {
        ".py",
        ".sh",
        ".bash",
        ".zsh",
        ".ps1",
        ".r",
        ".pl",
        ".rb",
        ".c",
        ".h",
        ".cpp",
        ".hpp",
        ".java",
        ".js",
        ".ts",
        ".go",
        ".rs",
        ".json",
        ".jsonl",
        ".yaml",
        ".yml",
        ".toml",
        ".ini",
        ".cfg",
        ".conf",
        ".csv",
        ".tsv",
        ".log",
        ".sql",
        ".tex",
        ".bib",
    }
)

# Prolog material that may precede an XML/HTML root element.
_PROLOG = re.compile(
    r"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[[^\]]*\][^>\[]*)*>)", re.S | re.I
)
_ROOT_TAG = re.compile(r"\s*<([A-Za-z_][\w.:-]*)")
_HTML_DOCTYPE = re.compile(r"\s*<!doctype\s+html", re.I)
# Markers needed: 2 (one heading) for a short note, rising to 4 for anything over 2 000 chars.
_MARKDOWN_MIN_SCORE = 2.0
_MARKDOWN_FULL_SCORE = 4.0
_CHARS_PER_POINT = 500
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+\S")
_SETEXT_RULE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(?:```|~~~)")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+\S")
# Matched against stripped lines: no two whitespace runs may touch, or long blank runs backtrack
# quadratically.
_TABLE_RULE = re.compile(r"^(?:\|[ \t]*)?:?-{3,}:?(?:[ \t]*\|[ \t]*:?-{3,}:?)+(?:[ \t]*\|)?$")
# Bounded, bracket-free runs keep these linear on adversarial input such as "[[[[…".
_LINK = re.compile(r"!?\[[^\[\]\n]{1,300}\]\([^()\s]{1,1000}\)")
_STRONG = re.compile(r"(\*\*|__)\S(?:[^\n*_]{0,300}\S)?\1")
_YAML_KEY = re.compile(r"^[\w-]+[ \t]*:")
_HTML_TAG = re.compile(
    r"<(?:p|div|span|a|br|hr|img|table|tr|td|th|ul|ol|li|h[1-6]|body|head|meta|link|title|"
    r"script|style|section|article|nav|header|footer|main|form|input|strong|em|b|i|pre|code)"
    r"(?:\s[^<>]*)?/?>",
    re.I,
)


def sniff(data: bytes, name: str = "") -> str:
    """Return "pdf", "docx", "feed", "html", "markdown" or "text" for the file's bytes.

    Raises UnsupportedFormatError for binary content and for zip archives that are not
    Word documents.

    >>> sniff(b"# Title\\n\\nSome text.", "notes.txt")
    'markdown'
    """
    head = data[:HEAD_BYTES]
    if _is_pdf(data):
        return "pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(data)
    _reject_binary(head)
    text = _head_text(head)
    extension = PurePath(name).suffix.lower()
    markup = _sniff_markup(text)
    if markup is not None:
        return markup
    if extension in _MARKDOWN_EXTENSIONS:
        return "markdown"
    if extension not in _PLAIN_EXTENSIONS and _looks_like_markdown(text):
        return "markdown"
    if extension in _HTML_EXTENSIONS or _looks_like_html_fragment(text):
        return "html"
    return "text"


_PDF_HEADER = re.compile(rb"(?:^|[\r\n])%PDF-\d\.\d")


def _is_pdf(data: bytes) -> bool:
    r"""A PDF header at the start, or (readers accept junk before it) at the start of a line
    in the first KB of a file that also ends like one (a cross-reference pointer and the end
    marker). Text that merely mentions a header is text.

    >>> _is_pdf(b"%PDF-1.7\n"), _is_pdf(b"junk\r\n%PDF-1.4\nstartxref\n9\n%%EOF\n")
    (True, True)
    >>> _is_pdf(b"# Notes\n\nEvery PDF starts with\n%PDF-1.7\nand ends with %%EOF.\n")
    False
    """
    if data.startswith(b"%PDF-"):
        return True
    tail = data[-2048:]
    return bool(_PDF_HEADER.search(data[:1024])) and b"startxref" in tail and b"%%EOF" in tail


def _sniff_zip(data: bytes) -> str:
    """A zip is a DOCX when it holds Word's main part; any other archive is unsupported."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except Exception:  # BadZipFile, NotImplementedError (odd versions), OSError, …
        # Truncated: no central directory. The local headers at the start still tell whether
        # this was meant to be a Word file, and then the DOCX parser reports it as corrupt.
        if b"word/" in data[:HEAD_BYTES] or b"[Content_Types].xml" in data[:HEAD_BYTES]:
            return "docx"
        raise UnsupportedFormatError("unreadable zip archive") from None
    if "word/document.xml" in names or (
        "[Content_Types].xml" in names and any(n.startswith("word/") for n in names)
    ):
        return "docx"
    raise UnsupportedFormatError("zip archive that is not a Word document")


def _reject_binary(head: bytes) -> None:
    """Raise for NUL bytes (unless a UTF-16/32 BOM explains them) or many control bytes."""
    probe = head[:BINARY_PROBE_BYTES]
    bom = bom_encoding(probe)
    if bom is not None and bom[0] != "utf-8":
        return
    if b"\x00" in probe:
        raise UnsupportedFormatError("binary content")
    controls = sum(1 for byte in probe if byte in _CONTROL_BYTES)
    if probe and controls / len(probe) > _MAX_CONTROL_RATIO:
        raise UnsupportedFormatError("binary content")


def _head_text(head: bytes) -> str:
    """Decode the head loosely; a cut multi-byte character or a legacy byte does not matter."""
    bom = bom_encoding(head)
    if bom is None:
        return head.decode("utf-8", errors="replace")
    encoding, skip = bom
    return head[skip:].decode(encoding, errors="replace")


def _sniff_markup(text: str) -> str | None:
    """Feed or full HTML page, judged by the root element after any XML prolog."""
    position = 0
    while match := _PROLOG.match(text, position):
        if _HTML_DOCTYPE.match(text, position):
            return "html"
        position = match.end()
    root = _ROOT_TAG.match(text, position)
    if root is None:
        return None
    tag = root.group(1).lower()
    if tag in ("feed", "rss") or (tag == "rdf:rdf" and _mentions_rss(text)):
        return "feed"
    if tag in ("html", "head", "body"):
        return "html"
    return None


def _mentions_rss(text: str) -> bool:
    """RDF/XML is only a feed (RSS 1.0) when it has a channel or items."""
    return bool(re.search(r"<(?:\w+:)?(?:channel|item)\b", text)) or "purl.org/rss" in text


def _looks_like_markdown(text: str) -> bool:
    """Front matter, or enough Markdown markers that a plain reader would see markup."""
    lines = text.split("\n")
    if _has_front_matter(lines):
        return True
    needed = min(_MARKDOWN_FULL_SCORE, max(_MARKDOWN_MIN_SCORE, len(text) / _CHARS_PER_POINT))
    return _markdown_score(lines) + _inline_score(text) >= needed


def _has_front_matter(lines: list[str]) -> bool:
    if not lines or lines[0].strip() != "---":
        return False
    for index, line in enumerate(lines[1:200], start=1):
        if line.rstrip() in ("---", "..."):
            return any(_YAML_KEY.match(item) for item in lines[1:index])
    return False


def _markdown_score(lines: list[str]) -> float:
    """Score block-level markers; a heading only counts after a blank line, as Markdown has it,
    which keeps runs of `# comment` lines in scripts from looking like a document outline."""
    score = 0.0
    previous = ""
    for line in lines:
        if _ATX_HEADING.match(line) and not previous.strip():
            score += 2
        elif _FENCE.match(line):
            score += 1.5
        elif _TABLE_RULE.match(line.strip()):
            score += 3
        elif (rule := _SETEXT_RULE.match(line)) and previous.strip():
            score += 3 if rule.group(1)[0] == "=" else 1
        elif _LIST_ITEM.match(line):
            score += 0.25
        previous = line
    return score


def _inline_score(text: str) -> float:
    return len(_LINK.findall(text)) + 0.5 * len(_STRONG.findall(text))


def _looks_like_html_fragment(text: str) -> bool:
    """Markup without <html>: starts with a tag and keeps using known HTML tags."""
    stripped = text.lstrip()
    tags = len(_HTML_TAG.findall(stripped))
    if stripped.startswith("<") and tags >= 2:
        return True
    return tags >= 10 and tags * 200 >= len(stripped)
