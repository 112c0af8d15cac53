"""Turn `docqa eval qa` outcomes into `docqa eval detect` rows, labelled by the gold answers.

A response is labelled hallucinated when it answers an unanswerable question, or answers an
answerable one without an accepted answer; abstentions are left out (there is nothing to
detect in them). The labels come from the question set, never from a fact-check, so the rows
can test the fact-check. They are coarse: a right answer with one invented extra sentence is
labelled not hallucinated.

    python -m eval.detect_rows docqa-eval/outcomes.jsonl --systems plain,constrained > rows.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eval.qa import strip_citations


def rows_from_outcomes(outcomes: list[dict], systems: set[str]) -> list[dict]:
    """
    >>> o = {"system": "plain", "id": "q1", "question": "Who?", "answerable": False,
    ...      "abstained": False, "correct": False, "answer": "Bob [1].",
    ...      "passages": [{"n": 1, "text": "Alice wrote it.", "heading": "Authors"}]}
    >>> row = rows_from_outcomes([o], {"plain"})[0]
    >>> row["response"], row["hallucinated"], row["headings"]
    ('Bob.', True, ['Authors'])
    """  # noqa: E501
    rows = []
    for o in outcomes:
        if o["system"] not in systems or o["abstained"] or not o.get("passages"):
            continue
        rows.append(
            {
                "id": f"{o['system']}:{o['id']}",
                "context": "\n\n".join(p["text"] for p in o["passages"]),
                "passages": [p["text"] for p in o["passages"]],
                "headings": [p.get("heading", "") for p in o["passages"]],
                "question": o["question"],
                "response": strip_citations(o["answer"]),
                "hallucinated": not o["correct"],
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outcomes", type=Path)
    parser.add_argument("--systems", default="plain,constrained")
    args = parser.parse_args(argv)
    outcomes = [json.loads(line) for line in args.outcomes.read_text().splitlines() if line]
    for row in rows_from_outcomes(outcomes, set(args.systems.split(","))):
        print(json.dumps(row, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
