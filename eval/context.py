"""How much of the answer survives context selection, measured without the answer model.

`docqa eval context QUESTIONS [--split FILE --side fit|report] [--budgets 80,120,160,240]`

For each answerable question it retrieves the passages as `docqa ask` does and checks whether a
gold answer (`Question.accepts`) occurs in what the model would read: the whole passages, and
the selected excerpts at each token budget (`generation.selection`). The share of questions
whose answer is still there, with a 95 % bootstrap interval, against the estimated tokens of
sources: the ceiling selection can lose from, measured in seconds instead of hours, so that a
budget and the scoring weights can be chosen on one part of the development data and checked
on another before any answer is generated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from eval.dataset import Question
from eval.metrics import bootstrap_rate
from eval.progress import progress
from generation.selection import ContextSelector, estimate_tokens, label_tokens
from retrieval.types import Hit


@dataclass(frozen=True, slots=True)
class ContextRow:
    """One way of filling the prompt: whether each question's answer is in it, and its cost."""

    name: str
    found: tuple[bool, ...]
    tokens: tuple[int, ...]

    @property
    def rate(self) -> float:
        return sum(self.found) / len(self.found) if self.found else 0.0

    @property
    def mean_tokens(self) -> float:
        return sum(self.tokens) / len(self.tokens) if self.tokens else 0.0


def measure(
    questions: Sequence[Question],
    search: Callable[[str], list[Hit]],
    selector: Callable[[int], ContextSelector],
    budgets: Sequence[int],
) -> list[ContextRow]:
    """The whole passages, then each budget's selection, over the answerable `questions`."""
    asked = [q for q in questions if q.answerable]
    found: dict[str, list[bool]] = {"whole passages": []}
    tokens: dict[str, list[int]] = {"whole passages": []}
    for b in budgets:
        found[f"selected, budget {b}"], tokens[f"selected, budget {b}"] = [], []
    with progress(len(asked), "questions") as bar:
        for q in asked:
            _measure_one(q, search(q.question), selector, budgets, found, tokens)
            bar.update()
    return [ContextRow(k, tuple(found[k]), tuple(tokens[k])) for k in found]


def _measure_one(
    q: Question,
    hits: list[Hit],
    selector: Callable[[int], ContextSelector],
    budgets: Sequence[int],
    found: dict[str, list[bool]],
    tokens: dict[str, list[int]],
) -> None:
    found["whole passages"].append(any(q.accepts(h.passage.text) for h in hits))
    tokens["whole passages"].append(
        sum(estimate_tokens(h.passage.text) + label_tokens(h) for h in hits)
    )
    for b in budgets:
        selection = selector(b).select(q.question, hits)
        excerpts = selection.excerpts if selection else ()
        found[f"selected, budget {b}"].append(any(q.accepts(e.text) for e in excerpts))
        tokens[f"selected, budget {b}"].append(
            sum(estimate_tokens(e.text) + label_tokens(e.hit) for e in excerpts)
        )


def table(rows: Sequence[ContextRow]) -> str:
    """A Markdown table of the rows, each rate with its 95 % bootstrap interval."""
    lines = [
        "| context | answer in it | 95 % interval | source tokens (estimated), mean |",
        "|---|---|---|---|",
    ]
    for row in rows:
        low, high = bootstrap_rate(row.found) or (0.0, 0.0)
        lines.append(
            f"| {row.name} | {row.rate:.2f} | {low:.2f}–{high:.2f} | {row.mean_tokens:.0f} |"
        )
    return "\n".join(lines)
