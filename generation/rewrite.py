"""Follow-up questions rewritten into standalone ones before retrieval.

"And how much does INT4 save?" retrieves nothing useful on its own: the subject lives in the
conversation. The answer model rewrites the follow-up with the last turns in view, under a
one-line grammar; retrieval, the prompt and the fact-check then see only the standalone
question, so every later stage stays stateless.
"""

from __future__ import annotations

import logging
import re
import textwrap
from collections.abc import Sequence

from generation.llm import Generator

log = logging.getLogger(__name__)

REWRITE_SYSTEM = (
    "You rewrite a follow-up question so that it can be understood without the conversation "
    "before it. Replace pronouns and references such as 'it', 'that' or 'and' with what they "
    "refer to. Keep every name and number. Reply with the rewritten question only."
)
ONE_LINE = "root ::= [^\\n]+"
TURNS = 2  # the last two exchanges hold the referent of almost every follow-up
TURN_CHARS = 400  # earlier answers are context for the rewrite, not material to answer from


_REFERRING = frozenset(
    "it its they them their theirs this that these those he him his she her hers there then "
    "one ones same such other others also too else former latter".split()
)
_LEADING = ("and ", "but ", "or ", "so ", "what about ", "how about ", "why ", "why?")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def refers_back(question: str) -> bool:
    """Whether a question may lean on the conversation: it holds a pronoun or another word
    that points back, starts like a follow-up ("and …", "what about …"), or is too short to
    stand alone. A question that does none of these is taken as standalone.

    >>> refers_back("and who leads it?"), refers_back("What about the tram?")
    (True, True)
    >>> refers_back("When?"), refers_back("zebra quantum saxophone?")
    (True, False)
    """
    text = question.strip().lower()
    words = _WORD.findall(text)
    return len(words) <= 2 or text.startswith(_LEADING) or any(w in _REFERRING for w in words)


def rewrite_messages(history: Sequence[tuple[str, str]], question: str) -> list[dict]:
    """The rewrite prompt: the last turns (answers shortened), then the follow-up.

    >>> m = rewrite_messages([("What is INT8?", "An 8-bit format [1].")], "and INT4?")
    >>> print(m[1]["content"])
    Conversation:
    User: What is INT8?
    Assistant: An 8-bit format [1].
    <BLANKLINE>
    Follow-up question: and INT4?
    Standalone question:
    """
    lines = ["Conversation:"]
    for asked, answered in list(history)[-TURNS:]:
        lines.append(f"User: {asked}")
        lines.append("Assistant: " + textwrap.shorten(answered, TURN_CHARS, placeholder=" …"))
    lines += ["", f"Follow-up question: {question}", "Standalone question:"]
    return [
        {"role": "system", "content": REWRITE_SYSTEM},
        {"role": "user", "content": "\n".join(lines)},
    ]


def standalone_question(
    generator: Generator, history: Sequence[tuple[str, str]], question: str
) -> str:
    """`question` made standalone; unchanged when there is no history or the rewrite fails."""
    question = question.strip()
    if not history:
        return question
    generator.keep_prefix(REWRITE_SYSTEM)
    reply = (
        generator.complete(rewrite_messages(history, question), grammar=ONE_LINE, max_tokens=96)
        .text.strip()
        .strip('"')
    )
    if not reply or len(reply) > 4 * len(question) + 200:
        log.info("rewrite of %r unusable (%r); keeping the question", question, reply)
        return question
    return reply
