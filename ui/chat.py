"""The chat's logic, free of Gradio: pipeline events in, views to show out.

`chat_views` turns the pipeline's event stream (a rewritten follow-up, the retrieved passages,
tokens, the checked answer) into successive `View`s: the assistant's reply so far, as Markdown
with citation markers, and the side panel's HTML with the cited passages. Everything a person
sees is rendered here, so it is tested without a browser; `ui.app` only wires it to widgets.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from generation.calibration import Calibration
from generation.parts import left_out, missing_part
from generation.types import (
    Answer,
    AnswerEvent,
    AnswerSentence,
    Done,
    Retrieved,
    Rewritten,
    Source,
    Token,
)

MARKS = {"unsupported": "unsupported by its source", "contradicted": "contradicted by its source"}


class Asks(Protocol):
    def stream(
        self, question: str, history: Sequence[tuple[str, str]] = ()
    ) -> Iterator[AnswerEvent]: ...


@dataclass(frozen=True, slots=True)
class View:
    """What the chat shows at one moment: the reply bubble and the sources panel."""

    reply: str
    sources: str
    done: bool = False
    answer: Answer | None = None


def chat_views(
    pipeline: Asks, message: str, history: Sequence[tuple[str, str]] = ()
) -> Iterator[View]:
    """Views while the answer streams, then the final one (`done`, with the `Answer`)."""
    note, reply, panel = "", "", ""
    for event in pipeline.stream(message, history):
        if isinstance(event, Rewritten):
            note = f"*Answering: {_md(event.standalone)}*\n\n"
            yield View(note, panel)
        elif isinstance(event, Retrieved):
            panel = sources_html(event.sources, cited=set())
            yield View(note + "…", panel)
        elif isinstance(event, Token):
            reply += event.text
            yield View(note + _md(reply), panel)
        elif isinstance(event, Done):
            answer = event.answer
            cited = {n for s in answer.sentences for n in s.citations}
            yield View(
                note + answer_markdown(answer),
                sources_html(answer.sources, cited, answer.sentences),
                True,
                answer,
            )


def answer_markdown(answer: Answer) -> str:
    """The checked answer: each sentence with clickable citation markers, flagged sentences
    marked (flag policy), what the documents do not say, or the abstention with its reason."""
    if answer.abstained:
        return f"{_md(answer.text)}\n\n<small>Why: {_md(answer.abstain_reason or '')}</small>"
    text = " ".join(_sentence(s) for s in answer.sentences)
    if answer.unanswered:
        gaps = " ".join(_md(missing_part(p)) for p in answer.unanswered)
        text += f' <span class="docqa-gap">{gaps}</span>'
    if answer.dropped:
        text += f"\n\n<small>{left_out(len(answer.dropped))}.</small>"
    return text


def levels_markdown(calibration: Calibration) -> str:
    """What each level of the dial did on development questions, for the settings panel.

    >>> from generation.calibration import Interval, Level
    >>> lv = Level("strict", 0.8, Interval(0.9, 0.8, 0.95, 100), Interval(0.3, 0.2, 0.4, 100),
    ...            Interval(0.04, 0.0, 0.1, 100))
    >>> c = type("C", (), {"levels": {"strict": lv}, "measured_on": "held-out questions"})()
    >>> print(levels_markdown(c))
    Measured on held-out questions (on other documents the rates differ):
    - **strict**: 90 % of answers right; answers 30 % of answerable questions; answers 4 % of unanswerable ones.
    """  # noqa: E501
    lines = [f"Measured on {calibration.measured_on} (on other documents the rates differ):"]
    for name, lv in calibration.levels.items():
        if lv.precision is None or lv.coverage is None or lv.wrong_unanswerable is None:
            lines.append(f"- **{name}**: not measured")
            continue
        lines.append(
            f"- **{name}**: {lv.precision.value:.0%} of answers right; answers "
            f"{lv.coverage.value:.0%} of answerable questions; answers "
            f"{lv.wrong_unanswerable.value:.0%} of unanswerable ones.".replace("%", " %")
        )
    return "\n".join(lines)


def _sentence(s: AnswerSentence) -> str:
    marks = "".join(
        f'<a class="docqa-cite" href="#docqa-src-{n}" data-src="{n}">[{n}]</a>' for n in s.citations
    )
    body = f"{_md(s.text[:-1])} {marks}{_md(s.text[-1])}"
    if s.check is not None and not s.check.ok:
        why = html.escape(f"{MARKS.get(s.check.verdict, s.check.verdict)}: {s.check.reason}")
        return f'<span class="docqa-flag" title="{why}">⚠ {body}</span>'
    return body


def sources_html(
    sources: Sequence[Source], cited: set[int], sentences: Sequence[AnswerSentence] = ()
) -> str:
    """The passages, cited ones first, each with file, section or page, and the evidence span
    of the sentences that cite it highlighted."""
    if not sources:
        return '<div class="docqa-sources"><p>No passages.</p></div>'
    spans: dict[int, list[tuple[int, int]]] = {}
    for s in sentences:
        if s.check is not None and s.check.evidence is not None:
            ev = s.check.evidence
            spans.setdefault(ev.source, []).append((ev.start, ev.end))
    ordered = sorted(sources, key=lambda s: (s.n not in cited, s.n))
    blocks = []
    for source in ordered:
        passage = source.hit.passage
        where = passage.place
        label = "cited" if source.n in cited else "retrieved, not cited"
        blocks.append(
            f'<div class="docqa-source" id="docqa-src-{source.n}" data-src="{source.n}">'
            f'<div class="docqa-source-head"><b>[{source.n}]</b> '
            f"{html.escape(passage.source)}{(' — ' + html.escape(where)) if where else ''} "
            f"<small>({label})</small></div>"
            f"<p>{highlight(passage.text, spans.get(source.n, []))}</p></div>"
        )
    return '<div class="docqa-sources">' + "".join(blocks) + "</div>"


def highlight(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """HTML-escape `text`, wrapping the given character spans in <mark>.

    >>> highlight("a <b> c", [(2, 5)])
    'a <mark>&lt;b&gt;</mark> c'
    """
    out, pos = [], 0
    for start, end in sorted(spans):
        start = max(start, pos)
        if start >= end:
            continue
        out += [html.escape(text[pos:start]), f"<mark>{html.escape(text[start:end])}</mark>"]
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _md(text: str) -> str:
    """Model and document text shown as text: HTML escaped, Markdown specials neutralised.

    >>> _md("<script>x</script> *bold* [1](http://x)")
    '&lt;script&gt;x&lt;/script&gt; \\\\*bold\\\\* \\\\[1\\\\](http://x)'
    """
    escaped = html.escape(text, quote=False)
    for ch in "\\`*_[]":
        escaped = escaped.replace(ch, "\\" + ch)
    return escaped
