"""A conversation as a document a reader can check without docqa: Markdown or HTML.

Every answer sentence comes with its citations, the check's verdict and probability, and the
passage's words it rests on, quoted exactly as they stand in the file's text; every source with its
file, section, page, character offsets and the SHA-256 of the file's content when it was
ingested, so that a reader can open the same version of the file and find each quote.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from generation.types import Answer, AnswerSentence, Source

VERBATIM = "Quotes are verbatim from the text of the files named below."

# (collection or None, path) → the file's SHA-256 when ingested, None if it is gone
HashOf = Callable[[str | None, str], str | None]


def _place(source: Source) -> str:
    p = source.hit.passage
    parts = [p.title or ""] if p.title and p.title != p.source else []
    if p.section:
        parts.append(f"§ {p.section}")
    if p.page is not None:
        parts.append(f"page {p.page}")
    parts.append(f"characters {p.start}–{p.end}")
    return ", ".join(x for x in parts if x)


def _quote(sentence: AnswerSentence) -> str | None:
    check = sentence.check
    return check.evidence.text if check and check.evidence else None


def _verdict(sentence: AnswerSentence) -> str:
    check = sentence.check
    if check is None:
        return "not checked"
    return f"{check.verdict} ({check.score:.2f})"


def _cites(sentence: AnswerSentence) -> str:
    return "".join(f"[{n}]" for n in sentence.citations)


def _cited(sentence: AnswerSentence) -> str:
    """The sentence with its citations before its final punctuation, as in the answer."""
    text, marks = sentence.text, _cites(sentence)
    if text and text[-1] in ".!?" and marks:
        return f"{text[:-1]} {marks}{text[-1]}"
    return f"{text} {marks}".strip()


def _collection(source: Source) -> str:
    c = source.hit.collection
    return f" (collection {c})" if c not in (None, "default") else ""


def to_markdown(
    answers: Sequence[Answer], hash_of: HashOf, title: str = "docqa conversation"
) -> str:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    out = [f"# {title}", "", f"Exported {now}. {VERBATIM}", ""]
    for i, answer in enumerate(answers, start=1):
        out += [f"## {i}. {answer.question}", ""]
        if answer.abstained:
            out += [f"**docqa did not answer:** {answer.text}", ""]
            if answer.abstain_reason:
                out += [f"Reason: {answer.abstain_reason}", ""]
        else:
            out += [answer.text, ""]
            for s in answer.sentences:
                out.append(f"- {_cited(s)} — *{_verdict(s)}*")
                if (quote := _quote(s)) is not None:
                    out += ["", *(f"  > {line}" for line in quote.splitlines() or [""]), ""]
            for s in answer.dropped:
                out.append(f"- ~~{_cited(s)}~~ — *withheld: {_verdict(s)}*")
            out.append("")
        cited = answer.cited if not answer.abstained else list(answer.sources)
        if cited:
            out += ["Sources:", ""]
            for src in cited:
                sha = hash_of(src.hit.collection, src.hit.passage.source)
                coll = _collection(src)
                out.append(
                    f"- [{src.n}] `{src.hit.passage.source}`{coll} — {_place(src)} — "
                    f"sha256 `{sha or 'unknown: no longer indexed'}`"
                )
            out.append("")
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
blockquote { margin: .3rem 0 .8rem 1rem; padding-left: .8rem; border-left: 3px solid #8a8;
  white-space: pre-wrap; }
.verdict { color: #555; font-style: italic; }
.withheld { text-decoration: line-through; color: #777; }
code { font-size: .9em; word-break: break-all; }
@media (prefers-color-scheme: dark) { body { background: #151515; color: #ddd; }
  .verdict { color: #aaa; } }
"""


def to_html(answers: Sequence[Answer], hash_of: HashOf, title: str = "docqa conversation") -> str:
    e = html.escape
    now = datetime.now(UTC).isoformat(timespec="seconds")
    body = [
        f"<h1>{e(title)}</h1>",
        f"<p>Exported {now}. {e(VERBATIM)}</p>",
    ]
    for i, answer in enumerate(answers, start=1):
        body.append(f"<section><h2>{i}. {e(answer.question)}</h2>")
        if answer.abstained:
            body.append(f"<p><strong>docqa did not answer:</strong> {e(answer.text)}</p>")
            if answer.abstain_reason:
                body.append(f"<p>Reason: {e(answer.abstain_reason)}</p>")
        else:
            body.append(f"<p>{e(answer.text)}</p><ul>")
            for s in answer.sentences:
                quote = _quote(s)
                body.append(
                    f"<li>{e(_cited(s))} "
                    f'<span class="verdict">— {e(_verdict(s))}</span>'
                    + (f"<blockquote>{e(quote)}</blockquote>" if quote is not None else "")
                    + "</li>"
                )
            for s in answer.dropped:
                body.append(
                    f'<li><span class="withheld">{e(_cited(s))}</span> '
                    f'<span class="verdict">— withheld: {e(_verdict(s))}</span></li>'
                )
            body.append("</ul>")
        cited = answer.cited if not answer.abstained else list(answer.sources)
        if cited:
            body.append("<p>Sources:</p><ul>")
            for src in cited:
                sha = hash_of(src.hit.collection, src.hit.passage.source)
                coll = e(_collection(src))
                body.append(
                    f"<li>[{src.n}] <code>{e(src.hit.passage.source)}</code>{coll} — "
                    f"{e(_place(src))} — sha256 <code>{e(sha or 'unknown: no longer indexed')}"
                    "</code></li>"
                )
            body.append("</ul>")
        body.append("</section>")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def export(answers: Sequence[Answer], hash_of: HashOf, fmt: str, title: str = "") -> str:
    """`fmt` "md"/"markdown" or "html"."""
    title = title or "docqa conversation"
    if fmt in ("md", "markdown"):
        return to_markdown(answers, hash_of, title)
    if fmt == "html":
        return to_html(answers, hash_of, title)
    raise ValueError(f"unknown export format {fmt!r}: choose md or html")
