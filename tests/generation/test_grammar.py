import pytest

from generation.grammar import answer_grammar, parse_answer
from generation.types import ABSTENTION, AnswerSentence

pytestmark = pytest.mark.unit


def test_grammar_only_allows_given_source_numbers():
    g = answer_grammar(3, 4)
    assert 'cite ::= "[" ("1" | "2" | "3") "]"' in g
    assert '"4"' not in g.split("cite ::=")[1]
    assert '(" " sentence){0,3}' in g


def test_grammar_contains_the_exact_abstention():
    assert '"I don\'t know — the indexed documents don\'t cover this."' in answer_grammar(1, 1)


def test_single_sentence_grammar_has_no_repetition():
    assert "{0,0}" not in answer_grammar(2, 1)


@pytest.mark.parametrize("bad", [(0, 3), (2, 0)])
def test_grammar_rejects_impossible_shapes(bad):
    with pytest.raises(ValueError):
        answer_grammar(*bad)


def test_parse_reads_both_citation_placements():
    parsed = parse_answer("It has 6 layers [1]. Each uses 8 heads. [2][1]", 2)
    assert not parsed.abstained
    assert parsed.sentences == (
        AnswerSentence("It has 6 layers.", (1,)),
        AnswerSentence("Each uses 8 heads.", (2, 1)),
    )


def test_parse_drops_out_of_range_citations_and_uncited_tails():
    parsed = parse_answer("Fact [5]. Real fact [1]. Truncated tail without cit", 1)
    assert parsed.sentences == (AnswerSentence("Real fact.", (1,)),)


def test_parse_keeps_decimals_inside_sentences():
    parsed = parse_answer("Version 3.5 costs 1.2 GB [1].", 1)
    assert parsed.sentences[0].text == "Version 3.5 costs 1.2 GB."


def test_parse_recognises_the_abstention():
    assert parse_answer(ABSTENTION, 3).abstained
    assert parse_answer("  " + ABSTENTION + " ", 3).abstained


def test_extractive_grammar_offers_only_verbatim_sentences_citing_their_own_source():
    from generation.grammar import extractive_grammar

    g = extractive_grammar(["Alpha beta gamma delta. See [3] here now.", "One two three four!"], 3)
    assert '"Alpha beta gamma delta" " [1]" "."' in g
    assert '"One two three four" " [2]" "!"' in g
    assert "See" not in g  # a bracket would read as a citation
    assert parse_answer("Alpha beta gamma delta [1].", 2).sentences[0].citations == (1,)


def test_extractive_grammar_without_usable_sentences_can_only_abstain():
    from generation.grammar import extractive_grammar

    g = extractive_grammar(["Too short."], 2)
    assert g.splitlines()[0] == "root ::= abstain"
