"""Question sets: JSON lines of `{"id", "question", "answerable", "accept" | "answers"}`.

Two ways to say what a right answer is:
- `accept`: a list of alternatives, each a list of substrings that must all occur
  (case-insensitively) in the answer. The format of the shared development set and of
  `eval/data/`; it suits generated sentences, which rarely equal a short gold answer.
- `answers`: gold answer strings, SQuAD style. The answer counts as right when a normalised gold
  answer occurs in the normalised answer; token F1 and exact match are reported beside it.

Loading validates every line and names the line that is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from eval.metrics import best_exact, best_f1, normalize_answer

T = TypeVar("T")
RIGHT_F1 = 0.5  # token F1 with a gold answer at which a paraphrase of it counts as right


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    question: str
    answerable: bool
    accept: tuple[tuple[str, ...], ...] = ()
    answers: tuple[str, ...] = ()

    def accepts(self, text: str) -> bool:
        """True when the text holds an accepted alternative or a gold answer.

        >>> Question("1", "q", True, (("7b", "65b"), ("seven",))).accepts("From 7B to 65B.")
        True
        >>> Question("2", "q", True, answers=("the Eiffel Tower",)).accepts("It is Eiffel tower.")
        True
        """
        lowered = text.lower()
        if any(all(part.lower() in lowered for part in alt) for alt in self.accept):
            return True
        padded = f" {normalize_answer(text)} "
        return any(f" {normalize_answer(a)} " in padded for a in self.answers if a.strip())

    def right(self, text: str) -> bool:
        """An answer counts as right when it holds an accepted answer, or when its SQuAD token
        F1 with a gold answer is at least 0.5 (a paraphrase of most of it).

        >>> Question("1", "q", True, answers=("the northern coast",)).right("The north coast.")
        True
        """
        return self.accepts(text) or (self.f1(text) or 0.0) >= RIGHT_F1

    def f1(self, text: str) -> float | None:
        """SQuAD token F1 against the gold answers; None when the question has none."""
        return best_f1(text, self.answers) if self.answers else None

    def exact(self, text: str) -> bool | None:
        return best_exact(text, self.answers) if self.answers else None


def read_jsonl(path: Path, what: str, parse: Callable[[dict[str, Any], int], T]) -> list[T]:
    """Parse each non-blank line of a JSON-lines file with `parse(record, line_number)`.

    Every evaluation input is read through here so a bad line always gives the same kind of
    message: the file, the line, and what is wrong. `parse` raises `ValueError` with a plain
    message for a record that is well-formed but unusable.
    """
    items = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(parse(json.loads(line), number))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}:{number}: not {what} ({exc})") from exc
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from exc
    if not items:
        raise ValueError(f"{path}: no records")
    return items


def load_questions(path: Path) -> list[Question]:
    seen: set[str] = set()

    def parse(row: dict[str, Any], number: int) -> Question:
        question = Question(
            id=str(row["id"]),
            question=str(row["question"]),
            answerable=bool(row["answerable"]),
            accept=tuple(tuple(str(p) for p in alt) for alt in row.get("accept") or ()),
            answers=tuple(str(a) for a in row.get("answers") or ()),
        )
        if question.answerable and not (question.accept or question.answers):
            raise ValueError(
                f"answerable question {question.id!r} has neither 'accept' nor "
                "'answers', so no answer could be scored"
            )
        if question.id in seen:
            raise ValueError(f"duplicate id {question.id!r}")
        seen.add(question.id)
        return question

    return read_jsonl(path, "a question record", parse)


def in_split(
    questions: Sequence[Question], records: Path, split: Path, side: str
) -> list[Question]:
    """The questions whose record's "title" is on `side` ("fit" or "report") of a split file
    such as `eval/data/squad2_split.json`."""
    titles = set(json.loads(split.read_text(encoding="utf-8"))[side])
    keep = {
        str(row["id"])
        for line in records.read_text(encoding="utf-8").splitlines()
        if line.strip() and (row := json.loads(line)).get("title") in titles
    }
    return [q for q in questions if q.id in keep]
