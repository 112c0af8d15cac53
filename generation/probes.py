"""Asking the answer model, without sampling, whether a text states the answer to a question.

Two probes, both read from the logits of the reply's first token:

- `stated(messages)`: after the answer prompt itself — the sources the model will answer from,
  already selected for the question (`generation.selection`) — the question is followed by "Do
  the sources above state the answer to this exact question? Reply yes or no." The sources are
  the prompt the answer needs anyway, so the probe costs only its ~25 tokens of suffix: the
  evaluated sources are shared with the answer that follows. With it, `first(messages,
  abstention)`: the probability that the answer prompt's reply does not open with the
  abstention.
- `supports(messages, sentence)`: after the same answer prompt, "Proposed answer: <sentence>
  Do the sources above state this answer to this exact question?"; one of the support check's
  two judges, asked while the answer prompt is still evaluated, so a sentence costs ~40 tokens.
- `answers(text, question)`: a few sentences alone (the evidence window of an answer
  sentence), with "answer by copying the words of the text, or reply none"; the support check's
  other judge.

Why, measured on development questions (ROC-AUC for "the text the model was shown states the
answer"; 130 SQuAD 2.0 fitting questions, half written to look answerable, and the 28 seeds
questions): the yes/no probe after the selected sources 0.82 on SQuAD and 0.96–0.99 on the
seeds' technical guides, against 0.76 and 0.85–0.87 for the answer-or-none probe on the
question's two closest windows, which docqa used before. A model fitted on SQuAD alone put the
seeds' answerable questions at a median of 0.80 with the new probe against 0.38 with the window
probe: three sentences cut from a list ("- INT8 Quantization: … (typically <1%)") looked
unconvincing to the model, the sources with their headings do not. (When the sources were four
whole passages, ~900 tokens, the same yes/no question separated barely, 0.65: context selection
is what made it work.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

PROBE_SYSTEM = (
    "You answer a question from a text by copying the words of the text that answer it. If "
    "the text does not state the answer to this exact question, reply none."
)
PROBE = "Text: {text}\n\nQuestion: {question}"
NONE = "none"
STATED = "\n\nDo the sources above state the answer to this exact question? Reply yes or no."
SUPPORTS = (
    "\n\nProposed answer: {sentence}\nDo the sources above state this answer to this exact "
    "question? Reply yes or no."
)


class ReplyScorer(Protocol):
    """A model that can say how likely its reply is to start a certain way."""

    def start_probability(self, messages: list[dict], starts: Sequence[str]) -> float: ...

    def choice_probabilities(self, messages: list[dict], choices: Sequence[str]) -> list[float]: ...

    def keep_prefix(self, system_text: str) -> None: ...


def titled(window: str, heading: str = "") -> str:
    """An evidence window as the window judge reads it: under the heading path of the passage
    it was cut from, as the answer prompt labels that passage. A list item or a sentence under
    a terse heading ("- INT8 Quantization: …", "Its lamp is visible for 22 nautical miles")
    says little on its own; the document's title and the section's name say what it is about.
    Given them, the judge told right from wrong sentences on the seeds' technical guides 0.88
    instead of 0.69 (ROC-AUC, 20 sentences; the innermost title alone, 0.86; docqa's own docs
    0.92 either way; the 191 SQuAD fitting sentences 0.81 either way, where the heading is the
    article's title).

    >>> titled("Seals last 36 hours.", "Pump guide > Care")
    'Pump guide: Care: Seals last 36 hours.'
    >>> titled("Seals last 36 hours.")
    'Seals last 36 hours.'
    """
    parts = [" ".join(part.split()) for part in heading.split(" > ")]
    return ": ".join([p for p in parts if p] + [window])


def probe_messages(text: str, question: str) -> list[dict]:
    """
    >>> probe_messages("The lamp is visible\\nfor 22 miles.", "How far?")[1]["content"]
    'Text: The lamp is visible for 22 miles.\\n\\nQuestion: How far?'
    """
    return [
        {"role": "system", "content": PROBE_SYSTEM},
        {
            "role": "user",
            "content": PROBE.format(text=" ".join(text.split()), question=question.strip()),
        },
    ]


def stated_messages(messages: list[dict]) -> list[dict]:
    """The answer prompt with the yes/no question after the user's question: everything before
    the question's end is the answer prompt's, so its evaluation is shared.

    >>> asked = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q? "}]
    >>> stated_messages(asked)[1]["content"].splitlines()
    ['Q?', '', 'Do the sources above state the answer to this exact question? Reply yes or no.']
    """
    *head, question = messages
    return [*head, {**question, "content": question["content"].rstrip() + STATED}]


def supports_messages(messages: list[dict], sentence: str) -> list[dict]:
    """The answer prompt with one answer sentence put to it after the question: like
    `stated_messages`, everything before the question's end is shared with the answer prompt.

    >>> asked = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q?"}]
    >>> supports_messages(asked, "It is 22 miles.")[1]["content"].splitlines()[2]
    'Proposed answer: It is 22 miles.'
    """
    *head, question = messages
    suffix = SUPPORTS.format(sentence=" ".join(sentence.split()))
    return [*head, {**question, "content": question["content"].rstrip() + suffix}]


class Probes:
    """`stated(messages)`: P(yes, the sources of the answer prompt state the answer);
    `first(messages, abstention)`: P(the answer does not open with the abstention);
    `supports(messages, sentence)`: P(yes, the sources state this sentence as the answer);
    `answers(text, question)`: P(the model answers from `text` rather than saying none)."""

    def __init__(self, scorer: ReplyScorer) -> None:
        self._scorer = scorer
        scorer.keep_prefix(PROBE_SYSTEM)
        self._cache: dict[tuple[str, str], float] = {}
        self._supported: dict[tuple[str, str, str], float] = {}

    def stated(self, messages: list[dict]) -> float:
        yes, _ = self._scorer.choice_probabilities(stated_messages(messages), ["yes", "no"])
        return yes

    def supports(self, messages: list[dict], sentence: str) -> float:
        # Kept: a sentence checked again against another citation asks the same question.
        key = (messages[0]["content"], messages[-1]["content"], " ".join(sentence.split()))
        if key not in self._supported:
            if len(self._supported) > 256:
                self._supported.clear()
            yes, _ = self._scorer.choice_probabilities(
                supports_messages(messages, sentence), ["yes", "no"]
            )
            self._supported[key] = yes
        return self._supported[key]

    def first(self, messages: list[dict], abstention: str) -> float:
        # Its first word: a model server compares whole tokens with the starts it is given.
        return 1.0 - self._scorer.start_probability(messages, [abstention.split()[0]])

    def answers(self, text: str, question: str) -> float:
        key = (" ".join(text.split()), question.strip())
        if key not in self._cache:
            if len(self._cache) > 256:
                self._cache.clear()
            p_none = self._scorer.start_probability(probe_messages(text, question), [NONE])
            self._cache[key] = 1.0 - p_none
        return self._cache[key]
