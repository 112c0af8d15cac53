import pytest

from generation.claims import names, quantities, spell_numbers

pytestmark = pytest.mark.unit


def q(text):
    return [(x.qualifier, x.number, x.unit) for x in quantities(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("less than 1 percent", [("<", "1", "%")]),
        ("~30% faster", [("~", "30", "%")]),
        ("4x compression", [("", "4", "x")]),
        ("1,500 hours and 3.50 euros", [("", "1500", ""), ("", "3.5", "")]),
        ("version v1.2", []),
        ("7B to 65B", [("", "7", "b"), ("", "65", "b")]),
    ],
)
def test_quantities_keep_qualifier_and_unit(text, expected):
    assert q(text) == expected


def test_number_words_become_digits():
    assert spell_numbers("Twelve heads, two dozen") == "12 heads, 2 12"
    assert spell_numbers("One other factor is one of the two") == "One other factor is one of the 2"


def test_names_skip_ordinary_sentence_starts_but_keep_acronyms():
    assert names("It runs OpenVINO. Models use GPTQ.") == {"OpenVINO", "GPTQ"}
    assert names("Segformer is used.") == set()  # sentence-initial, looks ordinary
    assert "Segformer" in names("The model is Segformer.")
