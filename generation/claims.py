"""Deterministic claim extraction: the numbers, quantities and names a sentence asserts.

A small model's favourite hallucination is a wrong number or a name that is not in its
sources ("12 heads" for a context that says 8; a BLEU score no source gives). These checks are
cheap, exact and explainable, so they run before any model-based verifier. Pure functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# "one" is left out: far more often a pronoun or determiner ("one of the", "one other factor")
# than a claimed count.
_NUMBER_WORDS = {
    "zero": "0",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "fifteen": "15",
    "twenty": "20",
    "thirty": "30",
    "fifty": "50",
    "hundred": "100",
    "thousand": "1000",
    "dozen": "12",
}
_QUALIFIERS = {
    "<": "<",
    "less than": "<",
    "under": "<",
    "below": "<",
    "fewer than": "<",
    "≤": "<=",
    "at most": "<=",
    "up to": "<=",
    ">": ">",
    "more than": ">",
    "over": ">",
    "above": ">",
    "≥": ">=",
    "at least": ">=",
    "~": "~",
    "about": "~",
    "approximately": "~",
    "around": "~",
    "roughly": "~",
    "nearly": "~",
    "almost": "~",
}
_QUALIFIER_RE = "|".join(sorted((re.escape(q) for q in _QUALIFIERS), key=len, reverse=True))
_UNITS = {
    "%": "%",
    "percent": "%",
    "per cent": "%",
    "x": "x",
    "×": "x",
    "times": "x",
    "k": "k",
    "m": "m",
    "b": "b",
    "bn": "b",
    "billion": "b",
    "million": "m",
    "thousand": "k",
    "gb": "gb",
    "mb": "mb",
    "kb": "kb",
    "tb": "tb",
    "ms": "ms",
    "s": "s",
    "km": "km",
}
_UNIT_RE = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_QUANTITY = re.compile(
    rf"(?:(?P<qual>{_QUALIFIER_RE})\s*)?(?<![\w.])(?P<num>\d+(?:[.,]\d+)*)"
    rf"(?:\s*(?P<unit>{_UNIT_RE})(?![a-z]))?",
    re.IGNORECASE,
)
_WORD_NUMBER = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
# Names: capitalised or mixed-case words and acronyms, possibly joined by hyphens or digits.
_NAME = re.compile(r"\b(?:[A-Z][a-zA-Z0-9]*[A-Z0-9][a-zA-Z0-9]*|[A-Z][a-z]+)(?:-[A-Za-z0-9]+)*\b")


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number with what qualifies it: `Quantity("<", "1", "%")` is "less than 1 %"."""

    qualifier: str
    number: str
    unit: str
    start: int
    end: int


def spell_numbers(text: str) -> str:
    """Digits for the common number words, so "six layers" can match "6 layers".

    >>> spell_numbers("Six layers and eight heads")
    '6 layers and 8 heads'
    """
    return _WORD_NUMBER.sub(lambda m: _NUMBER_WORDS[m.group(1).lower()], text)


def quantities(text: str) -> list[Quantity]:
    """Every number in `text` with its qualifier and unit, normalised.

    >>> [(q.qualifier, q.number, q.unit) for q in quantities("<1 % of 18,000 users, 4.2 million")]
    [('<', '1', '%'), ('', '18000', ''), ('', '4.2', 'm')]
    """
    found = []
    for m in _QUANTITY.finditer(text):
        qual = _QUALIFIERS.get((m["qual"] or "").lower(), "")
        unit = _UNITS.get((m["unit"] or "").lower(), "")
        found.append(Quantity(qual, _normalise_number(m["num"]), unit, m.start(), m.end()))
    return found


def names(text: str) -> set[str]:
    """Capitalised words and acronyms, except a sentence's first word when it is ordinary.

    >>> sorted(names("The model uses OpenVINO and Segment Anything on Intel chips."))
    ['Anything', 'Intel', 'OpenVINO', 'Segment']
    """
    out = set()
    for m in _NAME.finditer(text):
        word = m.group(0)
        sentence_start = m.start() == 0 or text[: m.start()].rstrip().endswith((".", "!", "?"))
        if sentence_start and word[1:].islower():
            continue
        out.add(word)
    return out


def _normalise_number(raw: str) -> str:
    if re.fullmatch(r"\d{1,3}(,\d{3})+", raw):
        return raw.replace(",", "")
    raw = raw.replace(",", ".")
    return raw.rstrip("0").rstrip(".") if "." in raw else raw
