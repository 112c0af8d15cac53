"""Two configurations of the guarded pipeline on the same questions, compared question by question.

`docqa eval paired QUESTIONS --change generation.select_context=false` asks every question of
the set twice, once as configured (A) and once with the changed setting (B), interleaved so that
load on the machine falls on both alike, and reports for each the answerable accuracy, the wrong
answers to unanswerable questions and the abstentions on answerable ones, each with a 95 %
bootstrap interval, then the paired difference B − A with its own interval (the questions
resampled together, so the variation between questions, which both share, cancels out). This is
the answer a user gets at the configured level, not a record-mode replay: a change that is meant
to leave quality alone is judged by what is shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eval.dataset import Question
from eval.metrics import bootstrap_rate
from eval.progress import progress
from generation.types import Answer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Scored:
    """One question answered by one configuration."""

    id: str
    answerable: bool
    abstained: bool
    right: bool  # answerable: answered with an accepted answer; unanswerable: abstained
    seconds: float
    prompt_tokens: int | None
    answer: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "answerable": self.answerable,
            "abstained": self.abstained,
            "right": self.right,
            "seconds": round(self.seconds, 3),
            "prompt_tokens": self.prompt_tokens,
            "answer": self.answer,
        }


def score(question: Question, answer: Answer, seconds: float) -> Scored:
    answered = not answer.abstained
    right = answered and question.right(answer.text) if question.answerable else not answered
    return Scored(
        question.id,
        question.answerable,
        answer.abstained,
        right,
        seconds,
        answer.usage.get("prompt_tokens"),
        answer.text,
    )


def run(
    questions: Sequence[Question],
    ask_a: Callable[[str], Answer],
    ask_b: Callable[[str], Answer],
    on_pair: Callable[[Scored, Scored], None] | None = None,
) -> tuple[list[Scored], list[Scored]]:
    """Each question asked by A, then by B (B first on every other question, so neither
    always runs on a cache the other warmed)."""
    a_out: list[Scored] = []
    b_out: list[Scored] = []
    with progress(len(questions), "questions") as bar:
        for i, q in enumerate(questions):
            order = [(ask_a, a_out), (ask_b, b_out)]
            pair: dict[int, Scored] = {}
            for ask, out in order if i % 2 == 0 else order[::-1]:
                start = time.perf_counter()
                answer = ask(q.question)
                scored = score(q, answer, time.perf_counter() - start)
                out.append(scored)
                pair[id(out)] = scored
            if on_pair is not None:
                on_pair(pair[id(a_out)], pair[id(b_out)])
            bar.update()
    return a_out, b_out


def paired_difference(
    a: Sequence[bool], b: Sequence[bool], *, resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float] | None:
    """B's rate − A's rate over the same items, and the 95 % bootstrap interval of that
    difference with the items resampled in pairs; None for no items.

    >>> paired_difference([True, False] * 20, [True, False] * 20)
    (0.0, 0.0, 0.0)
    >>> d, low, high = paired_difference([False] * 40, [True] * 10 + [False] * 30)
    >>> d, low > 0
    (0.25, True)
    """
    if not a:
        return None
    import numpy as np

    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(diff.mean()), float(low), float(high)


def _rate(flags: Sequence[bool]) -> str:
    if not flags:
        return "—"
    low, high = bootstrap_rate(flags) or (0.0, 0.0)
    return f"{sum(flags) / len(flags):.2f} ({low:.2f}–{high:.2f})"


def _median(values: Sequence[float]) -> float | None:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else None


def table(a: Sequence[Scored], b: Sequence[Scored], names: tuple[str, str]) -> str:
    """Each configuration's rates with intervals, then B − A paired, as Markdown."""

    def measures(rows: Sequence[Scored]) -> dict[str, list[bool]]:
        answerable = [r for r in rows if r.answerable]
        unanswerable = [r for r in rows if not r.answerable]
        return {
            "answerable accuracy": [r.right for r in answerable],
            "abstained on answerable": [r.abstained for r in answerable],
            "wrong answers to unanswerable": [not r.abstained for r in unanswerable],
        }

    ma, mb = measures(a), measures(b)
    lines = [
        f"| measure | {names[0]} (A) | {names[1]} (B) | B − A, paired (95 % interval) |",
        "|---|---|---|---|",
    ]
    for key in ma:
        diff = paired_difference(ma[key], mb[key])
        shown = "—" if diff is None else f"{diff[0]:+.2f} ({diff[1]:+.2f} to {diff[2]:+.2f})"
        lines.append(f"| {key} | {_rate(ma[key])} | {_rate(mb[key])} | {shown} |")
    sa, sb = _median([r.seconds for r in a]), _median([r.seconds for r in b])
    if sa is not None and sb is not None:
        lines.append(f"| seconds per question, median | {sa:.2f} | {sb:.2f} | {sb / sa:.2f}× |")
    ta = _median([r.prompt_tokens for r in a if r.prompt_tokens])
    tb = _median([r.prompt_tokens for r in b if r.prompt_tokens])
    if ta and tb:
        lines.append(
            f"| prompt tokens, median (answers written) | {ta:.0f} | {tb:.0f} | {tb / ta:.2f}× |"
        )
    return "\n".join(lines)
