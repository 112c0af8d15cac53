"""HTML pages (and HTML fragments from feeds and Markdown) to clean text with heading paths.

`html_to_text` walks the BeautifulSoup tree with an explicit stack instead of recursion, so
pathological nesting (thousands of `<div>`s) cannot hit Python's recursion limit. Block
elements end lines, headings open sections, list items get "- ", table cells " | ".

This module does not render CSS, run scripts, follow links or keep images; hidden content
(`display:none`) is kept because that needs a style engine to know.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field

from bs4 import (
    BeautifulSoup,
    MarkupResemblesLocatorWarning,
    NavigableString,
    Tag,
    XMLParsedAsHTMLWarning,
)
from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

from index.types import Document, Span
from ingest.decode import decode_text
from ingest.parsers._common import HeadingPath, SectionedText, file_stem, one_line

logger = logging.getLogger(__name__)

FORMAT = "html"
_DROPPED = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "head",
        "iframe",
        "object",
        "canvas",
        "button",
        "select",
        "textarea",
    }
)
_PARAGRAPH_BREAK = frozenset(
    {
        "p",
        "pre",
        "blockquote",
        "table",
        "ul",
        "ol",
        "dl",
        "figure",
        "section",
        "article",
        "header",
        "footer",
        "main",
        "aside",
        "nav",
        "form",
        "hr",
        "address",
        "fieldset",
        "details",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
    }
)
_LINE_BREAK = frozenset(
    {
        "div",
        "li",
        "tr",
        "br",
        "dt",
        "dd",
        "caption",
        "figcaption",
        "summary",
        "thead",
        "tbody",
        "tfoot",
        "option",
        "legend",
    }
)
_BULLET = "- "
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_SKIPPED_STRINGS = (Comment, Declaration, Doctype, ProcessingInstruction)
_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")
_CHARSET_PROBE_BYTES = 4096  # the HTML spec makes browsers look at the first 1024 bytes
_DECLARED_CHARSET = re.compile(
    rb"""(?:<meta[^>]*?charset\s*=\s*["']?|<\?xml[^>]*?encoding\s*=\s*["'])([A-Za-z0-9_.:-]+)""",
    re.I,
)

# Content the sniffer called HTML is parsed as HTML, even when it looks like broken XML (a
# damaged feed, say); bs4's many-line advice about that is noise in a user's terminal.
warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)
# A short file whose text looks like a path or URL is still a file's text, not a mistake.
warnings.filterwarnings("ignore", category=MarkupResemblesLocatorWarning)


def parse(data: bytes, source: str) -> list[Document]:
    """Parse a whole HTML page into one Document titled by <title>, else the first <h1>."""
    soup = BeautifulSoup(decode_text(data, declared=_declared_charset(data)), "lxml")
    head = soup.head  # searching only <head> avoids scanning a huge body for absent tags
    title_tag = head.find("title") if head else None
    title = one_line(title_tag.get_text()) if title_tag else ""
    text, sections, first_h1 = _convert(soup)
    return [
        Document(
            source=source,
            text=text,
            format=FORMAT,
            title=title or first_h1 or file_stem(source),
            metadata=_meta_tags(head) if head else {},
            sections=sections,
        )
    ]


def _declared_charset(data: bytes) -> str | None:
    """The page's own `<meta charset>` / `http-equiv` / XML prolog encoding, if any."""
    match = _DECLARED_CHARSET.search(data[:_CHARSET_PROBE_BYTES])
    return match.group(1).decode("ascii") if match else None


def html_to_text(html: str, root: str = "") -> tuple[str, list[Span]]:
    """Convert HTML to text plus section spans; `root` (e.g. a feed entry title) tops every path.

    Raises EmptyDocumentError when no text is left.

    >>> html_to_text("<h1>Intro</h1><p>Hello <b>world</b></p><ul><li>a</li></ul>")[0]
    'Intro\\n\\nHello world\\n\\n- a'
    """
    text, sections, _ = _convert(BeautifulSoup(html, "lxml"), root)
    return text, list(sections)


def _convert(soup: BeautifulSoup, root: str = "") -> tuple[str, tuple[Span, ...], str]:
    walker = _Walker(HeadingPath(root))
    try:
        walker.walk(soup)
    except RecursionError:  # bs4/lxml internals may still recurse on absurd input
        logger.warning("HTML too deeply nested; falling back to flat text")
        walker = _Walker(HeadingPath(root))
        walker.out.add(soup.get_text("\n"), walker.path.label)
        return (*walker.out.build(), "")
    walker.flush()
    return (*walker.out.build(), walker.first_h1)


def _meta_tags(head: Tag) -> dict[str, str]:
    """Keep the few <meta> fields people search by; everything else is noise."""
    metadata: dict[str, str] = {}
    for name in ("author", "description", "keywords"):
        tag = head.find("meta", attrs={"name": name})
        content = tag.get("content") if isinstance(tag, Tag) else None
        if isinstance(content, str) and content.strip():
            metadata[name] = one_line(content)
    return metadata


@dataclass
class _Walker:
    """Depth-first walk that accumulates the current block and hands it over at headings.

    Breaks are requested, not written: consecutive requests merge into the largest one, so
    `</p><p>` gives one blank line and `</div><div>` one newline, never more.
    """

    path: HeadingPath
    out: SectionedText = field(default_factory=SectionedText)
    first_h1: str = ""
    _buffer: list[str] = field(default_factory=list)
    _heading: list[str] | None = None
    _pending: int = 0
    _pre_depth: int = 0
    _list_depth: int = 0
    _cell_depth: int = 0

    def walk(self, soup: BeautifulSoup) -> None:
        stack: list[tuple[object, bool]] = [(soup, False)]
        while stack:
            node, leaving = stack.pop()
            if leaving:
                assert isinstance(node, Tag)
                self._end(node)
            elif isinstance(node, NavigableString):
                self._text(node)
            elif isinstance(node, Tag) and node.name not in _DROPPED:
                self._start(node)
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(node.contents))

    def flush(self) -> None:
        self.out.add("".join(self._buffer), self.path.label)
        self._buffer = []
        self._pending = 0

    def _emit(self, text: str) -> None:
        if self._heading is not None:
            self._heading.append(text)
            return
        if self._pending and self._buffer:
            self._buffer.append("\n" * self._pending)
        self._pending = 0
        self._buffer.append(text)

    def _at_line_start(self) -> bool:
        if self._heading is not None:
            return not self._heading or self._heading[-1].endswith(" ")
        return bool(self._pending) or not self._buffer or self._buffer[-1].endswith(("\n", " "))

    def _text(self, node: NavigableString) -> None:
        if isinstance(node, _SKIPPED_STRINGS):
            return
        if self._pre_depth:
            self._emit(str(node))
            return
        text = _WHITESPACE.sub(" ", str(node))
        if self._at_line_start():
            text = text.lstrip(" ")
        if text:
            self._emit(text)

    def _start(self, tag: Tag) -> None:
        name = tag.name
        if name in _HEADINGS:
            self.flush()
            self._heading = []
            return
        self._break(name)
        if name == "pre":
            self._pre_depth += 1
        elif name in ("ul", "ol"):
            self._list_depth += 1
        elif name == "li":
            self._emit("  " * max(self._list_depth - 1, 0) + _BULLET)
        elif name in ("td", "th"):
            if tag.find_previous_sibling(("td", "th")) is not None:
                self._emit(" | ")
            self._cell_depth += 1

    def _end(self, tag: Tag) -> None:
        name = tag.name
        if name in _HEADINGS and self._heading is not None:
            heading = one_line("".join(self._heading))
            self._heading = None
            if heading:
                self.first_h1 = self.first_h1 or (heading if name == "h1" else "")
                self.out.add(heading, self.path.enter(_HEADINGS[name], heading))
            return
        if name == "pre":
            self._pre_depth -= 1
        elif name in ("ul", "ol"):
            self._list_depth -= 1
        elif name in ("td", "th"):
            self._cell_depth -= 1
        if name not in ("br", "hr"):  # void elements break once, on the way in
            self._break(name)

    def _break(self, name: str) -> None:
        lines = 2 if name in _PARAGRAPH_BREAK else 1 if name in _LINE_BREAK else 0
        if not lines:
            return
        if self._heading is not None or self._cell_depth:
            if not self._at_line_start():
                self._emit(" ")  # a heading or a table cell stays on one line
            return
        if self._buffer and self._buffer[-1].lstrip(" ") == _BULLET and not self._pending:
            return  # <li><p>text</p></li>: keep the text on the bullet's line
        if self._list_depth:
            lines = 1  # paragraphs and nested lists inside a list stay compact
        self._pending = max(self._pending, lines)
