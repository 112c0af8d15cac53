"""The llama.cpp GBNF grammar that makes uncited prose impossible, and its parser.

The grammar admits exactly two shapes of output:

* the abstention sentence, verbatim; or
* 1..`max_sentences` sentences, each ending in one to three citations `[n]` where `n` can only
  be the number of a source that was actually given ("Text [1]." or "Text. [1][2]").

Inside a sentence, `.`, `!` and `?` may only be followed by a non-space character ("3.5",
"v1.2"), so one citation cannot cover several sentences — except after the common
abbreviations people write mid-sentence ("11:40 a.m. and", "e.g. the", "Dr. Hale"), which the
grammar lists. The parser reads the same shape
back; `extractive_grammar` is the stricter variant for very small models, whose sentences can
only be verbatim copies of passage sentences. The parser is tolerant of a truncated tail (the
token limit hit mid-sentence) by keeping only complete, cited sentences.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.sentences import sentence_spans
from generation.types import ABSTENTION, AnswerSentence

MAX_CITATIONS_PER_SENTENCE = 3
# Abbreviations whose final "." may be followed by a space inside a sentence.
ABBREVIATIONS = (
    "a.m",
    "p.m",
    "A.M",
    "P.M",
    "e.g",
    "i.e",
    "etc",
    "vs",
    "approx",
    "ca",
    "cf",
    "No",
    "Dr",
    "Mr",
    "Mrs",
    "Ms",
    "Prof",
    "St",
    "Mt",
    "Jr",
    "Sr",
    "Inc",
    "Ltd",
    "Co",
    "Corp",
    "U.S",
    "U.K",
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "Aug",
    "Sept",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
    "Fig",
    "Vol",
    "pp",
    "Gen",
    "Gov",
    "Sen",
    "Rev",
    "Col",
    "Lt",
    "Capt",
    "Sgt",
)


def answer_grammar(n_sources: int, max_sentences: int) -> str:
    """GBNF for a cited answer over sources 1..n_sources, or the abstention.

    >>> 'cite ::= "[" ("1" | "2") "]"' in answer_grammar(2, 3)
    True
    """
    if n_sources < 1:
        raise ValueError("a cited answer needs at least one source")
    if max_sentences < 1:
        raise ValueError("max_sentences must be at least 1")
    numbers = " | ".join(json.dumps(str(n)) for n in range(1, n_sources + 1))
    extra = f"{{0,{MAX_CITATIONS_PER_SENTENCE - 1}}}"
    more = f'(" " sentence){{0,{max_sentences - 1}}}' if max_sentences > 1 else ""
    abbreviations = " | ".join(json.dumps(a) for a in ABBREVIATIONS)
    return "\n".join(
        [
            "root ::= abstain | answer",
            f"abstain ::= {json.dumps(ABSTENTION, ensure_ascii=False)}",
            f"answer ::= sentence {more}".rstrip(),
            'sentence ::= lead body ( " " cites "." | "." " " cites | " " abbr " " cites "." )',
            f"cites ::= cite cite{extra}",
            f'cite ::= "[" ({numbers}) "]"',
            r'lead ::= [^ \n\[\].!?] | abbr " "',
            r'body ::= ( [^\n\[\].!?] | [.!?] [^ \n\[\]] | " " abbr " " )*',
            f'abbr ::= ({abbreviations}) "."',
        ]
    )


def extractive_grammar(passages: Sequence[str], max_sentences: int, min_words: int = 4) -> str:
    """GBNF whose sentences can only be verbatim sentences of the passages, each citing its own.

    For very small models: the answer cannot contain a word that is not in the sources, and a
    copied sentence can only cite the passage it was copied from. Sentences with brackets (they
    would read as citations) and fragments under `min_words` words are not offered.

    >>> g = extractive_grammar(["The lamp is visible for 22 miles. Tiny."], 2)
    >>> 'span ::= "The lamp is visible for 22 miles" " [1]" "."' in g
    True
    """
    if max_sentences < 1:
        raise ValueError("max_sentences must be at least 1")
    choices = []
    for n, text in enumerate(passages, start=1):
        for a, b in sentence_spans(text):
            span = " ".join(text[a:b].split())  # wrapped lines read as one sentence
            if "[" in span or "]" in span or len(span.split()) < min_words:
                continue
            body, end = (span[:-1], span[-1]) if span[-1] in ".!?" else (span, ".")
            choice = f'{_literal(body)} " [{n}]" {_literal(end)}'
            if choice not in choices:
                choices.append(choice)
    more = f'(" " span){{0,{max_sentences - 1}}}' if max_sentences > 1 else ""
    rules = [
        "root ::= abstain | answer" if choices else "root ::= abstain",
        f"abstain ::= {_literal(ABSTENTION)}",
    ]
    if choices:
        rules += [f"answer ::= span {more}".rstrip(), "span ::= " + " | ".join(choices)]
    return "\n".join(rules)


def _literal(text: str) -> str:
    """A GBNF string literal (JSON escaping is a subset of what GBNF accepts)."""
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    abstained: bool
    sentences: tuple[AnswerSentence, ...]


_SENTENCE = re.compile(
    r"\s*(?P<body>[^\[\]\n]+?)\s*(?P<cites>(?:\[\d+\]\s*)+)\.?",
)
_CITE = re.compile(r"\[(\d+)\]")


def parse_answer(text: str, n_sources: int) -> ParsedAnswer:
    """Read generated text back into cited sentences; citations outside 1..n are dropped.

    >>> [(s.text, s.citations) for s in parse_answer("Six [1]. Eight. [2][9]", 2).sentences]
    [('Six.', (1,)), ('Eight.', (2,))]
    """
    stripped = text.strip()
    if stripped == ABSTENTION or (stripped.startswith("I don't know") and "[" not in stripped):
        return ParsedAnswer(True, ())
    sentences: list[AnswerSentence] = []
    for match in _SENTENCE.finditer(stripped):
        cites = tuple(
            dict.fromkeys(
                n for n in (int(c) for c in _CITE.findall(match["cites"])) if 1 <= n <= n_sources
            )
        )
        body = match["body"].strip()
        if cites and body:
            sentences.append(AnswerSentence(_close(body), cites))
    return ParsedAnswer(False, tuple(sentences))


def _close(body: str) -> str:
    return body if body[-1] in ".!?" else body + "."
