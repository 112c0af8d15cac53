"""Context selection on hand-made passages: what the model is shown of the retrieved text."""

import pytest

from core.fakes import HashEmbedder
from core.sentences import sentence_spans
from generation.prompts import build_messages
from generation.selection import ContextSelector, Excerpt, estimate_tokens, label_tokens
from generation.windows import SentenceWindows
from index.types import Passage
from retrieval.types import Hit

pytestmark = pytest.mark.unit

PUMP = (
    "The pump ships in a wooden crate. "
    "Assembly takes two people and an afternoon. "
    "The seal must be replaced every 1,500 operating hours. "
    "It is sold as spare part SP-14. "
    "The warranty covers the motor for five years. "
    "Paint the housing only with the supplied primer."
)
GARDEN = (
    "Water the roses in the early morning. "
    "Mulch keeps the soil moist through the summer. "
    "Prune the hedge after the birds have nested."
)


def hit(n: int, text: str, section: str = "Manual > Care") -> Hit:
    return Hit(
        passage=Passage(id=n, text=text, source=f"/d/{n}.md", title="Manual", section=section),
        score=1.0 / n,
    )


def selector(budget: int) -> ContextSelector:
    return ContextSelector(SentenceWindows(HashEmbedder(256)), budget)


def cost(excerpts: list[Excerpt]) -> int:
    """What the selector counts: each chosen sentence plus its separator, and each source's
    fence and label."""
    total = 0
    for e in excerpts:
        total += label_tokens(e.hit)
        total += sum(estimate_tokens(e.hit.passage.text[a:b]) + 1 for a, b in e.spans)
    return total


def test_the_sentence_that_answers_is_kept_and_the_rest_left_out():
    selection = selector(40).select(
        "How often must the seal be replaced?", [hit(1, GARDEN), hit(2, PUMP)]
    )
    assert selection is not None
    texts = [e.text for e in selection.excerpts]
    assert any("seal must be replaced every 1,500 operating hours" in t for t in texts)
    assert not any("roses" in t for t in texts)  # a passage with nothing chosen is left out
    best = selection.excerpts[selection.best]
    a, b = selection.best_span
    assert "1,500" in best.hit.passage.text[a:b]


def test_a_sentence_that_opens_with_a_pronoun_brings_the_one_it_refers_to():
    selection = selector(30).select("Which spare part number is it sold as?", [hit(1, PUMP)])
    assert selection is not None
    text = selection.excerpts[0].text
    assert "It is sold as spare part SP-14." in text
    assert "The seal must be replaced" in text  # what "It" is


@pytest.mark.parametrize("budget", [10, 30, 60, 90, 140])
def test_the_budget_is_respected_beyond_the_best_window(budget):
    hits = [hit(1, PUMP), hit(2, GARDEN), hit(3, PUMP.replace("pump", "compressor"))]
    selection = selector(budget).select("When is the seal of the pump replaced?", hits)
    assert selection is not None
    excerpts = list(selection.excerpts)
    if cost(excerpts) > budget:
        # only the best window (which is always shown) went over: nothing else was added
        assert len(excerpts) == 1
        spans = excerpts[0].spans
        sentences = sentence_spans(excerpts[0].hit.passage.text)
        first = min(i for i, s in enumerate(sentences) if s[0] >= selection.best_span[0])
        allowed = {s for s in sentences[max(first - 1, 0) :] if s[1] <= selection.best_span[1]}
        assert set(spans) <= allowed
    assert budget < 140 or cost(excerpts) <= budget
    larger = selector(budget * 2).select("When is the seal of the pump replaced?", hits)
    assert larger is not None and cost(list(larger.excerpts)) >= cost(excerpts)


def test_offsets_are_the_passages_own_and_gaps_are_marked():
    selection = selector(1000).select("seal warranty primer", [hit(1, PUMP)])
    assert selection is not None
    excerpt = selection.excerpts[0]
    text = excerpt.hit.passage.text
    for a, b in excerpt.spans:
        assert (a, b) in sentence_spans(text)  # whole sentences, at their true offsets
    assert excerpt.spans == tuple(sorted(excerpt.spans))
    assert len(excerpt.spans) == len(sentence_spans(text))  # a budget this size takes all
    assert excerpt.text == " ".join(text[a:b] for a, b in excerpt.spans)

    partial = Excerpt(excerpt.hit, (excerpt.spans[0], excerpt.spans[2]))
    assert partial.text == f"{text[slice(*excerpt.spans[0])]} … {text[slice(*excerpt.spans[2])]}"


def test_the_prompt_shows_excerpts_under_the_passages_labels():
    hits = [hit(1, PUMP, "Manual > Seals")]
    selection = selector(30).select("How often must the seal be replaced?", hits)
    assert selection is not None
    system = build_messages("q?", selection.hits, 3, texts=[e.text for e in selection.excerpts])[0][
        "content"
    ]
    assert '<source n="1" from="Manual > Seals">' in system
    assert "1,500 operating hours" in system and "wooden crate" not in system


def test_nothing_to_select_from():
    assert selector(100).select("anything?", [hit(1, "   ")]) is None
    assert selector(100).select("anything?", []) is None


def test_headings_and_bare_list_markers_are_not_spent_on():
    text = (
        "Seal care\n"
        "1. Drain the pump before opening it.\n"
        "2. Replace the seal every 1,500 operating hours.\n"
        "3. Refill and test for leaks."
    )
    selection = selector(45).select(
        "When is the seal replaced?", [hit(1, text, "Manual > Seal care")]
    )
    assert selection is not None
    shown = selection.excerpts[0].text
    assert "Seal care" not in shown  # the label says it: from="Manual > Seal care"
    assert "2. Replace the seal every 1,500 operating hours." in shown  # its marker travels with it
    # no marker stands alone on a line, cut from its item
    assert all(any(c.isalpha() for c in line) for line in shown.splitlines() if line != "…")


def test_a_best_window_that_only_repeats_the_heading_does_not_lose_the_preview():
    heading_only = hit(1, "Seal care", "Manual > Seal care")
    selection = selector(60).select("seal care", [heading_only, hit(2, PUMP)])
    assert selection is not None
    best = selection.excerpts[selection.best]
    assert best.hit.passage.id == 2  # the heading-only passage has nothing to show
    a, b = selection.best_span
    assert best.hit.passage.text[a:b] in best.text
    assert selector(60).select("seal care", [heading_only]) is None
