"""The parts of a question that asks for several things, so each can be answered or not.

"How many layers does the encoder have, and who funded the work?" has two parts; documents
that state only the first should get an answer to it and a plain statement that they do not
say the second, not an all-or-nothing abstention. Splitting is deliberately conservative — a
wrong split costs an unneeded "the documents do not say" — so only separate questions ("…? …?")
and clauses joined by "and"/"also"/";" that open with a question word count as parts. Pure
functions.
"""

from __future__ import annotations

import re

_QUESTION_WORDS = (
    "what|which|who|whom|whose|when|where|why|how|is|are|was|were|does|do|did|can|could|"
    "will|would|has|have|had|should"
)
# A clause boundary: "?" between questions, or ", and" / " and" / "; " / ", also" before a
# question word.
_SPLIT = re.compile(
    rf"(?<=\?)\s+(?=\S)|\s*(?:,?\s+(?:and|also|and also)\s+|;\s*)(?=(?:{_QUESTION_WORDS})\b)",
    re.IGNORECASE,
)
_OPENS = re.compile(rf"^(?:{_QUESTION_WORDS})\b", re.IGNORECASE)


def question_parts(question: str) -> list[str]:
    """The question's parts, each ending in "?"; one part for an ordinary question.

    >>> question_parts("How many layers does it have, and who funded the work?")
    ['How many layers does it have?', 'who funded the work?']
    >>> question_parts("What is X? When was it built?")
    ['What is X?', 'When was it built?']
    >>> question_parts("What is the difference between salt and sugar?")
    ['What is the difference between salt and sugar?']
    """
    question = " ".join(question.split())
    pieces = [p.strip(" ,;") for p in _SPLIT.split(question) if p and p.strip(" ,;")]
    if len(pieces) < 2 or not _OPENS.match(pieces[0]):
        return [question] if question else []
    return [p if p.endswith("?") else p.rstrip(".!") + "?" for p in pieces]


def missing_part(part: str) -> str:
    """The sentence that says the documents do not answer a part. The part is quoted as asked
    rather than turned into an indirect question ("how many layers does it have" would need
    its verb conjugated), so the sentence is always grammatical.

    >>> missing_part("who funded the work?")
    'The documents do not say: who funded the work?'
    """
    text = part.strip().rstrip("?.! ")
    return f"The documents do not say: {text[:1].lower()}{text[1:]}?"


def left_out(n: int) -> str:
    """What an answer says of the sentences the support check withheld.

    >>> left_out(1)
    '1 sentence the sources do not support was left out'
    >>> left_out(2)
    '2 sentences the sources do not support were left out'
    """
    return (
        f"{n} sentence{'' if n == 1 else 's'} the sources do not support "
        f"{'was' if n == 1 else 'were'} left out"
    )
