"""Question sets: JSON lines of `{"id", "question", "answerable", "accept"}`.

`accept` is a list of alternatives, each a list of substrings that must all occur
(case-insensitively) in a correct answer. This is the format of the shared development set and
of `eval/data/`. Loading validates every line and names the line that is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    question: str
    answerable: bool
    accept: tuple[tuple[str, ...], ...] = ()

    def accepts(self, text: str) -> bool:
        """True when every substring of at least one alternative occurs in `text`.

        >>> Question("1", "q", True, (("7b", "65b"), ("seven",))).accepts("From 7B to 65B.")
        True
        """
        lowered = text.lower()
        return any(all(part.lower() in lowered for part in alt) for alt in self.accept)


def load_questions(path: Path) -> list[Question]:
    questions = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            questions.append(Question(
                id=str(row["id"]), question=str(row["question"]),
                answerable=bool(row["answerable"]),
                accept=tuple(tuple(str(p) for p in alt) for alt in row.get("accept") or ()),
            ))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a question record ({exc})") from exc
    return questions
