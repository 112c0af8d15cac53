"""Markdown to clean text, with YAML front matter as metadata and heading paths as sections.

markdown-it-py (CommonMark + tables + strikethrough) does the tokenising, so fenced code,
setext headings and emphasis-versus-underscore follow the spec rather than a regex's guess.
The token stream is then rendered as plain text: headings and paragraphs keep their lines,
list items get "- " / "1. ", table rows "a | b", code blocks stay verbatim, links keep their
text, images their alt text, inline `<sub>`/`<sup>` become "_"/"^", and HTML blocks go
through `html_to_text`.

This module does not render HTML, resolve reference links to URLs, or evaluate math; front
matter that is not valid YAML is dropped with a warning rather than failing the file.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from index.types import Document
from ingest.decode import decode_text
from ingest.errors import EmptyDocumentError
from ingest.parsers._common import HeadingPath, SectionedText, file_stem, jsonable, one_line
from ingest.parsers.html import html_to_text

logger = logging.getLogger(__name__)

FORMAT = "markdown"
_MAX_FRONT_MATTER_LINES = 500
_MAX_NESTING = 50
_YAML_KEY = re.compile(r"^[\w-]+[ \t]*:")
_INLINE_HTML = re.compile(r"^<(/?)([a-zA-Z][\w-]*)")
_INLINE_TAG_TEXT = {"sub": "_", "sup": "^", "br": "\n"}


def parse(data: bytes, source: str) -> list[Document]:
    """Parse one Markdown file into one Document."""
    metadata, body = split_front_matter(decode_text(data), source)
    tokens = _markdown().parse(body)
    front_title = one_line(str(metadata.get("title") or ""))
    # Static-site generators render the front-matter title as the page's H1; when the body
    # has no H1 of its own, let that title head the section paths the same way.
    has_h1 = any(t.type == "heading_open" and t.tag == "h1" for t in tokens)
    renderer = _Renderer(root="" if has_h1 else front_title)
    renderer.render(tokens)
    text, sections = renderer.out.build()
    title = front_title or renderer.first_h1
    return [
        Document(
            source=source,
            text=text,
            format=FORMAT,
            title=title or file_stem(source),
            metadata=metadata,
            sections=sections,
        )
    ]


def split_front_matter(text: str, source: str = "") -> tuple[dict[str, Any], str]:
    """Split a leading `---` … `---` YAML block off `text`; return (metadata, rest).

    Broken YAML that still looks like front matter (key: value lines) is dropped from the text
    with a warning, so it neither crashes the file nor pollutes the searchable text.

    >>> split_front_matter("---\\ntitle: Hi\\n---\\nBody")
    ({'title': 'Hi'}, 'Body')
    """
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        return {}, text
    end = _closing_line(lines)
    if end is None:
        return {}, text
    block, rest = "\n".join(lines[1:end]), "\n".join(lines[end + 1 :])
    try:
        loaded = yaml.load(block, Loader=_FrontMatterLoader)  # noqa: S506 - a SafeLoader
    except Exception as exc:  # YAML's constructors raise what they like on hostile input
        if not any(_YAML_KEY.match(line) for line in lines[1:end]):
            return {}, text  # a thematic break, not front matter
        logger.warning(
            "%s: ignoring front matter that is not valid YAML: %s",
            source or "<text>",
            str(exc).split("\n")[0],
        )
        return {}, rest
    if not isinstance(loaded, dict):
        return ({}, rest) if loaded is None else ({}, text)
    return jsonable(loaded), rest


class _FrontMatterLoader(yaml.SafeLoader):
    """Safe YAML that keeps dates as written: an impossible one ("2026-21-10", found by the
    fuzzer) stays text instead of failing the file, and metadata shows what the author wrote."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _closing_line(lines: list[str]) -> int | None:
    for index, line in enumerate(lines[1:_MAX_FRONT_MATTER_LINES], start=1):
        if line.rstrip() in ("---", "..."):
            return index
    return None


def _markdown() -> MarkdownIt:
    # CommonMark's preset stops at 20 nested blocks; 50 keeps real documents whole while the
    # parser's recursion stays far below Python's limit.
    return MarkdownIt("commonmark", {"maxNesting": _MAX_NESTING}).enable(["table", "strikethrough"])


class _Renderer:
    """Turns the flat markdown-it token stream into blocks under their heading paths."""

    def __init__(self, root: str = "") -> None:
        self.out = SectionedText()
        self.first_h1 = ""
        self._path = HeadingPath(root)
        self._lists: list[list[int | None]] = []  # per open list: next number, None if bullet
        self._list_lines: list[str] = []
        self._bullet: str | None = None  # prefix waiting for the item's first line
        self._rows: list[list[str]] = []  # rows of the open table

    def render(self, tokens: list[Token]) -> None:
        for index, token in enumerate(tokens):
            handler = getattr(self, "_on_" + token.type, None)
            if handler is not None:
                handler(token, tokens[index + 1] if index + 1 < len(tokens) else None)

    # -- headings and paragraphs -------------------------------------------------------
    def _on_heading_open(self, token: Token, following: Token | None) -> None:
        heading = one_line(inline_text(following)) if following is not None else ""
        if not heading:
            return
        level = int(token.tag[1])
        if level == 1 and not self.first_h1:
            self.first_h1 = heading
        self._block(heading, label=self._path.enter(level, heading))

    def _on_paragraph_open(self, token: Token, following: Token | None) -> None:
        if following is not None and following.type == "inline":
            self._block(inline_text(following))

    def _on_fence(self, token: Token, following: Token | None) -> None:
        self._block(token.content.rstrip("\n"))

    _on_code_block = _on_fence

    def _on_html_block(self, token: Token, following: Token | None) -> None:
        try:
            text, _ = html_to_text(token.content)
        except EmptyDocumentError:
            return  # comments, <br>, image-only blocks
        self._block(text)

    # -- lists ---------------------------------------------------------------------------
    def _on_bullet_list_open(self, token: Token, following: Token | None) -> None:
        self._lists.append([None])

    def _on_ordered_list_open(self, token: Token, following: Token | None) -> None:
        start = token.attrGet("start")
        self._lists.append([int(start) if start is not None else 1])

    def _on_bullet_list_close(self, token: Token, following: Token | None) -> None:
        self._lists.pop()
        if not self._lists:
            lines, self._list_lines = self._list_lines, []
            self.out.add("\n".join(lines), self._path.label)

    _on_ordered_list_close = _on_bullet_list_close

    def _on_list_item_open(self, token: Token, following: Token | None) -> None:
        counter = self._lists[-1]
        marker = "-" if counter[0] is None else f"{counter[0]}."
        if counter[0] is not None:
            counter[0] += 1
        self._bullet = "  " * (len(self._lists) - 1) + marker + " "

    def _on_list_item_close(self, token: Token, following: Token | None) -> None:
        if self._bullet is not None:  # an empty item still shows its marker
            self._list_lines.append(self._bullet.rstrip())
            self._bullet = None

    # -- tables --------------------------------------------------------------------------
    def _on_tr_open(self, token: Token, following: Token | None) -> None:
        self._rows.append([])

    def _on_th_open(self, token: Token, following: Token | None) -> None:
        if following is not None and following.type == "inline":
            self._rows[-1].append(one_line(inline_text(following)))
        else:
            self._rows[-1].append("")

    _on_td_open = _on_th_open

    def _on_table_close(self, token: Token, following: Token | None) -> None:
        rows, self._rows = self._rows, []
        self._block("\n".join(" | ".join(row) for row in rows))

    def _block(self, text: str, label: str | None = None) -> None:
        """Append a block, or a line of the open list when inside one."""
        if not self._lists:
            self.out.add(text, self._path.label if label is None else label)
            return
        indent = "  " * len(self._lists)
        lines = text.split("\n")
        if self._bullet is not None:
            self._list_lines.append(self._bullet + lines[0])
            lines, self._bullet = lines[1:], None
        self._list_lines.extend(indent + line if line.strip() else "" for line in lines)


def inline_text(token: Token) -> str:
    """Plain text of an inline token: markers dropped, link text and image alt text kept."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)
        elif child.type == "html_inline":
            parts.append(_inline_html(child.content))
    return "".join(parts)


def _inline_html(tag: str) -> str:
    match = _INLINE_HTML.match(tag)
    if match is None or (match.group(1) and match.group(2).lower() != "br"):
        return ""
    return _INLINE_TAG_TEXT.get(match.group(2).lower(), "")
