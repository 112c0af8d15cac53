"""The chat's logic, free of Gradio: pipeline events in, views to show out.

`chat_views` turns the pipeline's event stream (a rewritten follow-up, the retrieved passages,
tokens, the checked answer) into successive `View`s: the assistant's reply so far, as Markdown
with citation markers, and the side panel's HTML with the cited passages. Everything a person
sees is rendered here, so it is tested without a browser; `ui.app` only wires it to widgets.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from generation.calibration import Calibration
from generation.parts import left_out, missing_part
from generation.types import (
    ABSTENTION,
    Answer,
    AnswerEvent,
    AnswerSentence,
    Done,
    Preview,
    Retrieved,
    Rewritten,
    Source,
    Token,
)
from index.types import Passage

MARKS = {"unsupported": "unsupported by its source", "contradicted": "contradicted by its source"}
# How long the model may go quiet after writing before the chat says it is checking.
CHECKING_AFTER_S = 1.0


class Asks(Protocol):
    def stream(
        self, question: str, history: Sequence[tuple[str, str]] = ()
    ) -> Iterator[AnswerEvent]: ...


@dataclass(frozen=True, slots=True)
class View:
    """What the chat shows at one moment: the reply bubble and this answer's sources."""

    reply: str
    sources: str
    done: bool = False
    answer: Answer | None = None


class Turn:
    """One question's reply as it grows: the stage it is at and for how long, the draft the
    model streams, then the checked answer with citations that open this turn's passages.

    `turn` names the exchange in the page (its citation links and passages carry it), so a
    marker under an old answer keeps opening that answer's passages after newer ones arrive.
    """

    def __init__(self, turn: str, question: str, *, waiting: str = "") -> None:
        self.turn, self.question = turn, question
        self.stage = waiting or "Searching the documents"
        self.note, self.draft, self.panel = "", "", ""
        self.preview: Preview | None = None
        self.answer: Answer | None = None
        self._quiet_since: float | None = None
        self._sources: Sequence[Source] = ()

    def feed(self, event: AnswerEvent | str, now: float = 0.0) -> None:
        """Take a pipeline event, or a stage of the app's own (a string: waiting, loading)."""
        if isinstance(event, str):
            self.stage = event
        elif isinstance(event, Rewritten):
            self.note = f"*Answering: {_md(event.standalone)}*\n\n"
            self.stage = "Searching the documents"
        elif isinstance(event, Retrieved):
            self._sources = event.sources
            n = len(event.sources)
            self.stage = f"Reading {n} passage{'' if n == 1 else 's'}"
            self.panel = sources_html(
                event.sources, set(), turn=self.turn, question=self.question, pending=True
            )
        elif isinstance(event, Preview):
            self.preview = event
            self.stage = "Reading the passages"
            self.panel = sources_html(
                self._sources,
                set(),
                turn=self.turn,
                question=self.question,
                marked={event.source.n: [(event.start, event.end)]},
                pending=True,
            )
        elif isinstance(event, Token):
            self.draft += event.text
            self.stage, self._quiet_since = "Writing", now
        elif isinstance(event, Done):
            self.answer = event.answer
            cited = {n for s in event.answer.sentences for n in s.citations}
            self.panel = sources_html(
                event.answer.sources,
                cited,
                event.answer.sentences,
                turn=self.turn,
                question=self.question,
                abstained=event.answer.abstained,
            )

    def view(self, elapsed: float | None = None, now: float = 0.0) -> View:
        """The reply as it stands; with `elapsed`, the stage line says for how long."""
        if self.answer is not None:
            after = ""
            if self.answer.abstained and self.preview is not None:
                after = (
                    '\n\n<small class="docqa-preview-note">The closest passage, '
                    f"[{self.preview.source.n}], was not enough to answer.</small>"
                )
            return View(
                self.note + answer_markdown(self.answer, self.turn) + after,
                self.panel,
                True,
                self.answer,
            )
        stage = self.stage
        draft = self.draft
        if draft.strip() and ABSTENTION.startswith(draft.strip()):
            draft = ""  # the model is writing the fixed "I don't know": no use spelling it out
        if (
            stage == "Writing"
            and self._quiet_since is not None
            and now - self._quiet_since > CHECKING_AFTER_S
        ):
            stage = "Checking each sentence against its passage"
        clock = f" · {elapsed:.0f} s" if elapsed is not None else ""
        line = f'<span class="docqa-stage">{html.escape(stage)}…{clock}</span>'
        body = _md(draft) + "\n\n" if draft else ""
        if self.preview is not None and not draft:
            body = preview_markdown(self.preview, self.turn) + "\n\n"
        return View(self.note + body + line, self.panel)

    def stopped(self) -> View:
        """The reply after Stop: what was written so far, unchecked, said to be so."""
        body = _md(self.draft) + "\n\n" if self.draft else ""
        return View(
            self.note + body + '<span class="docqa-stopped">Stopped — nothing was checked.</span>',
            self.panel,
            True,
        )


def chat_views(
    pipeline: Asks, message: str, history: Sequence[tuple[str, str]] = (), *, turn: str = "1"
) -> Iterator[View]:
    """Views while the answer streams, then the final one (`done`, with the `Answer`)."""
    current = Turn(turn, message)
    for event in pipeline.stream(message, history):
        current.feed(event)
        yield current.view()


def preview_markdown(preview: Preview, turn: str = "1") -> str:
    """Where the answer most likely is, shown while the model reads: the sentences of the
    passage closest to the question, quoted, with the marker that opens the passage.

    >>> from retrieval.types import Hit
    >>> p = Passage(text="Intro. Seals last *36* hours.", source="/m/pump.md")
    >>> print(preview_markdown(Preview(Source(2, Hit(passage=p, score=1.0)), 7, 29)))
    <div class="docqa-preview">Closest passage <a class="docqa-cite" href="#docqa-src-1-2">[2]</a>: “Seals last *36* hours.”</div>

    The quote is HTML-escaped only: a line that opens a `<div>` is an HTML block, whose content
    Markdown leaves alone, so a Markdown escape would show as a backslash ("abstain\\_reason").
    Collapsing the whitespace keeps the quote on one line, inside the block.
    """  # noqa: E501
    n = preview.source.n
    link = f'<a class="docqa-cite" href="#docqa-src-{turn}-{n}">[{n}]</a>'
    quote = html.escape(" ".join(preview.text.split()), quote=False)
    return f'<div class="docqa-preview">Closest passage {link}: “{quote}”</div>'


def answer_markdown(answer: Answer, turn: str = "1") -> str:
    """The checked answer: each sentence with clickable citation markers, flagged sentences
    marked (flag policy), what the documents do not say, or the abstention with its reason."""
    if answer.abstained:
        return f"{_md(answer.text)}\n\n{why(answer.abstain_reason or '')}"
    text = " ".join(_sentence(s, turn) for s in answer.sentences)
    if answer.unanswered:
        gaps = " ".join(_md(missing_part(p)) for p in answer.unanswered)
        text += f' <span class="docqa-gap">{gaps}</span>'
    if answer.dropped:
        text += f"\n\n<small>{left_out(len(answer.dropped))}.</small>"
    # Newlines as character references: a blank line would end the Markdown paragraph
    # inside the attribute and leave the tag in pieces.
    copy = html.escape(answer_text(answer), quote=True).replace("\n", "&#10;")
    return text + (
        f'\n\n<a class="docqa-copy" href="#docqa-copy" title="{copy}">Copy with sources</a>'
    )


def answer_text(answer: Answer) -> str:
    """The answer as Markdown a person pastes elsewhere: its sentences with their [n], what
    the documents do not say, then the sources it cites, each with file and place.

    >>> from generation.types import AnswerSentence, Source
    >>> from retrieval.types import Hit
    >>> p = Passage(text="…", source="/m/pump.pdf", title="Pump", section="Pump > Care", page=2)
    >>> a = Answer("q", "Seals last 1,500 hours [1].", False,
    ...            (AnswerSentence("Seals last 1,500 hours.", (1,)),), (Source(1, Hit(passage=p, score=0)),))
    >>> print(answer_text(a))
    Seals last 1,500 hours [1].
    <BLANKLINE>
    Sources:
    [1] Pump · pump.pdf — Care, page 2 (/m/pump.pdf)
    """  # noqa: E501
    if answer.abstained:
        return f"{answer.text}\n\nWhy: {answer.abstain_reason or ''}"
    lines = [answer.text, "", "Sources:"]
    for source in answer.cited:
        p = source.hit.passage
        lines.append(f"[{source.n}] {source_name(p)} ({p.source})")
    return "\n".join(lines)


def why(reason: str) -> str:
    """An abstention's reason as a person reads it: its plain first clause, with the figures
    behind it folded under "Details".

    >>> why("the retrieved passages do not seem to state the answer (answerability 0.13 < 0.37)")
    '<small>Why: the retrieved passages do not seem to state the answer.</small><details class="docqa-why"><summary>Details</summary><small>the retrieved passages do not seem to state the answer (answerability 0.13 &lt; 0.37)</small></details>'
    >>> why("the index is empty")
    '<small>Why: the index is empty.</small>'
    """  # noqa: E501
    head = reason.split(" (", 1)[0].split(": ", 1)[0].rstrip(". ")
    text = f"<small>Why: {_md(head)}.</small>"
    if head != reason.rstrip(". "):
        text += (
            '<details class="docqa-why"><summary>Details</summary>'
            f"<small>{html.escape(reason)}</small></details>"
        )
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


def _sentence(s: AnswerSentence, turn: str) -> str:
    marks = "".join(
        f'<a class="docqa-cite" href="#docqa-src-{turn}-{n}">[{n}]</a>' for n in s.citations
    )
    body = f"{_md(s.text[:-1])} {marks}{_md(s.text[-1])}"
    if s.check is not None and not s.check.ok:
        why = html.escape(f"{MARKS.get(s.check.verdict, s.check.verdict)}: {s.check.reason}")
        return f'<span class="docqa-flag" title="{why}">⚠ {body}</span>'
    return body


def sources_html(
    sources: Sequence[Source],
    cited: set[int],
    sentences: Sequence[AnswerSentence] = (),
    *,
    turn: str = "1",
    question: str = "",
    abstained: bool = False,
    marked: Mapping[int, Sequence[tuple[int, int]]] | None = None,
    pending: bool = False,
) -> str:
    """One answer's passages, cited ones first, each named by its document's title and file
    (the full path on hover) with its section or page, and the evidence span of the sentences
    that cite it highlighted. When the answer abstained, the passages are shown as what was
    searched and found not enough, not as the answer's sources. `marked` highlights further
    spans ({source: [(start, end)]}): the preview's, before the answer has evidence. While the
    answer is `pending`, nothing is "not cited" yet: passages are "retrieved", and a marked one
    "closest to the question"."""
    head = f"Sources for “{html.escape(question)}”" if question else "Sources"
    if abstained:
        head = (
            f"Searched for “{html.escape(question)}”: these passages did not state the answer"
            if question
            else "These passages did not state the answer"
        )
    group = f'<div class="docqa-sources" data-turn="{html.escape(turn)}">'
    group += f'<div class="docqa-sources-for">{head}</div>'
    if not sources:
        return group + "<p>No passages.</p></div>"
    spans: dict[int, list[tuple[int, int]]] = {n: list(v) for n, v in (marked or {}).items()}
    for s in sentences:
        if s.check is not None and s.check.evidence is not None:
            ev = s.check.evidence
            spans.setdefault(ev.source, []).append((ev.start, ev.end))
    ordered = sorted(sources, key=lambda s: (s.n not in cited, s.n))
    blocks = []
    for source in ordered:
        passage = source.hit.passage
        if abstained:
            status = "searched"
        elif pending:
            status = "closest to the question" if source.n in spans else "retrieved"
        else:
            status = "cited" if source.n in cited else "retrieved, not cited"
        collection = source.hit.collection
        if collection not in (None, "default"):  # asked over several collections
            status = f"{status} · {collection}"
        blocks.append(
            f'<div class="docqa-source" id="docqa-src-{html.escape(turn)}-{source.n}">'
            f'<div class="docqa-source-head" title="{html.escape(passage.source)}">'
            f"<b>[{source.n}]</b> {html.escape(source_name(passage))} "
            f"<small>({html.escape(status)})</small></div>"
            f"<p>{highlight(passage.text, spans.get(source.n, []))}</p></div>"
        )
    return group + "".join(blocks) + "</div>"


def source_name(passage: Passage) -> str:
    """A passage as a person names it: its document's title and file name (the folder is in
    the hover), then its section — without repeating the title — and page.

    >>> source_name(Passage(text="t", source="/srv/bakery.html", title="Bakery",
    ...                     section="Bakery > Our sourdough"))
    'Bakery · bakery.html — Our sourdough'
    >>> source_name(Passage(text="t", source="/a/notes.md", title="notes", page=3))
    'notes.md — page 3'
    """
    name = passage.source.replace("\\", "/").rsplit("/", 1)[-1]
    title, section = passage.title.strip(), passage.section
    named = name if not title or title in (name, name.rsplit(".", 1)[0]) else f"{title} · {name}"
    if title and section.startswith(title + " > "):
        section = section[len(title) + 3 :]
    elif section == title:
        section = ""
    parts = [x for x in (section, f"page {passage.page}" if passage.page else "") if x]
    return named + (" — " + ", ".join(parts) if parts else "")


def sources_panel(groups: Sequence[str]) -> str:
    """Every answer's sources in one panel; the page shows the newest group until a citation
    of an older answer is clicked (see `ui.app.HEAD`)."""
    if not groups:
        return ""
    return '<div class="docqa-panel">' + "".join(groups) + "</div>"


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
