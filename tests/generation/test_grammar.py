import json
import re

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
    assert "\"I don't know — the indexed documents don't cover this.\"" in answer_grammar(1, 1)


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


def gbnf_regex(grammar: str) -> re.Pattern:
    """The grammar as one regex: docqa's grammars are not recursive, so every rule reference
    can be expanded in place. Enough GBNF for them: literals, classes, groups, |, *, {m,n}."""
    rules = {}
    for line in grammar.splitlines():
        name, body = line.split(" ::= ", 1)
        rules[name.strip()] = body

    def expand(body: str) -> str:
        out, i = [], 0
        while i < len(body):
            c = body[i]
            if c == '"':
                j = i + 1
                while body[j] != '"':
                    j += 2 if body[j] == "\\" else 1
                out.append(re.escape(json.loads(body[i : j + 1])))
                i = j + 1
            elif c == "[":
                j = body.index("]", i + 2 if body[i + 1] == "^" else i + 1)
                while body[j - 1] == "\\":
                    j = body.index("]", j + 1)
                out.append(body[i : j + 1])
                i = j + 1
            elif c.isalpha():
                j = i
                while j < len(body) and (body[j].isalnum() or body[j] in "-_"):
                    j += 1
                out.append(f"(?:{expand(rules[body[i:j]])})")
                i = j
            elif c == "(":
                out.append("(?:")
                i += 1
            elif c == " ":
                i += 1
            else:
                out.append(c)
                i += 1
        return "".join(out)

    return re.compile(expand(rules["root"]), re.DOTALL)


@pytest.mark.parametrize(
    "text",
    [
        "It takes place on Thursday between 11:40 a.m. and 12 p.m. [3].",
        "Dr. Hale arrived in 1851, e.g. by train [1].",
        "The ratio is 3.5 to 1 [2]. It was set in v1.2 [1][2].",
        "It opens at 9 a.m. [1]",
        ABSTENTION,
    ],
)
def test_the_grammar_accepts_abbreviations_and_decimals(text):
    assert gbnf_regex(answer_grammar(3, 6)).fullmatch(text)


@pytest.mark.parametrize(
    "text",
    [
        "Six. And more [2].",  # one citation cannot cover two sentences
        "Two sentences. In one [1].",
        "Uncited.",
        "Cites a source that was not given [4].",
    ],
)
def test_the_grammar_still_refuses_what_it_must(text):
    assert not gbnf_regex(answer_grammar(3, 6)).fullmatch(text)


def test_an_abbreviation_does_not_end_a_parsed_sentence():
    parsed = parse_answer("It runs between 11:40 a.m. and 12 p.m. [3]. Dr. Hale said so [1].", 3)
    assert [s.text for s in parsed.sentences] == [
        "It runs between 11:40 a.m. and 12 p.m.",
        "Dr. Hale said so.",
    ]
