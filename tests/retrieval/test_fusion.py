import pytest

from retrieval.fusion import content_terms, reciprocal_rank_fusion

pytestmark = pytest.mark.unit


def test_rrf_rewards_items_ranked_by_both_lists():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 4, 1]], k=60)
    assert [i for i, _ in fused][:2] == [1, 3]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 63)


def test_rrf_is_deterministic_on_ties():
    assert [i for i, _ in reciprocal_rank_fusion([["a"], ["b"]])] == ["a", "b"]


def test_rrf_of_nothing_is_empty():
    assert reciprocal_rank_fusion([[], []]) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How many layers?", ["many", "layers"]),
        ('NEAR(a b) "x" OR y*', ["near"]),
        ("the of and", []),
        ("INT4 int4 Int4", ["int4"]),
    ],
)
def test_content_terms_drop_stopwords_punctuation_and_repeats(text, expected):
    assert content_terms(text) == expected
