import pytest

from generation.prompts import build_messages, source_label
from generation.types import ABSTENTION
from index.types import Passage
from retrieval.types import Hit

pytestmark = pytest.mark.unit


def hit(n: int, text: str, section: str = "", page: int | None = None) -> Hit:
    return Hit(
        passage=Passage(
            id=n,
            text=text,
            source=f"/docs/f{n}.md",
            title=f"Title {n}",
            section=section,
            page=page,
            end=len(text),
        ),
        score=0.5,
    )


def test_sources_are_numbered_in_order_and_fenced():
    msgs = build_messages("  What?  ", [hit(7, "alpha"), hit(3, "beta", "B > C", 2)], 3)
    system = msgs[0]["content"]
    assert msgs[1] == {"role": "user", "content": "What?"}
    assert '<source n="1" from="Title 7">\nalpha\n</source>' in system
    assert '<source n="2" from="B > C (page 2)">\nbeta\n</source>' in system
    assert system.index('n="1"') < system.index('n="2"')


def test_prompt_states_the_exact_abstention_and_the_limit():
    system = build_messages("q", [hit(1, "x")], 5)[0]["content"]
    assert ABSTENTION in system
    assert "at most 5 sentences" in system


def test_source_label_falls_back_to_file_name():
    h = Hit(passage=Passage(id=1, text="t", source="/x/y/notes.txt", end=1), score=0.1)
    assert source_label(h) == "notes.txt"


def test_extractive_prompt_asks_for_verbatim_copies():
    system = build_messages("q", [hit(1, "x")], 2, extractive=True)[0]["content"]
    assert "copying, word for word" in system
    assert "copying" not in build_messages("q", [hit(1, "x")], 2)[0]["content"]
