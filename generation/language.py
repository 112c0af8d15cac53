"""Whether a question looks English: docqa's embedding model (all-MiniLM-L6-v2) reads English.

A question in another language retrieves poorly and is refused at the relevance gate with a
similarity that says nothing to the person asking. This check only changes the *wording* of
such a refusal ("ask in English"); it never decides anything. It is a heuristic on purpose —
no language-identification model ships on PyPI with weights small enough to be worth it here:
mostly non-Latin letters, or three words or more among which a common function word of German,
French, Spanish, Italian, Portuguese or Dutch and no English one (so "Kestrel Island ferry
times" stays English).
"""

from __future__ import annotations

import re

_FUNCTION_WORDS = frozenset(
    "a an the is are was were be been being am what who whom whose how when where which why "
    "does do did of in on at to for from with by and or not no it its this that these those "
    "there can could should would will shall may might must has have had i you he she we they "
    "me my your his her our their them about into than then as if so any all many much".split()
)
_FOREIGN_WORDS = frozenset(
    "der die das ist und wie wer wo nicht ein eine von mit für dem des sind "  # German
    "le la les est et qui que quoi où une du pour dans avec sont "  # French
    "el los las y qué cómo dónde cuándo una para con del son "  # Spanish
    "il lo gli è che chi dove sono "  # Italian
    "os é quem onde uma com são "  # Portuguese
    "het een en wat waar hoe niet van voor ".split()  # Dutch
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
HINT = (
    "docqa's embedding model reads English, and this question does not look English: "
    "ask it in English"
)


def looks_english(text: str) -> bool:
    """False when the text is mostly in a non-Latin script, or is three words or more with a
    common function word of another Latin-script language and no English one.

    >>> looks_english("Who was Margaret Hale?"), looks_english("How long is the river?")
    (True, True)
    >>> looks_english("Wie lang ist der Fluss?"), looks_english("Сколько стоит ремонт маяка?")
    (False, False)
    >>> looks_english("Kestrel Island ferry times"), looks_english("灯塔")
    (True, False)
    >>> looks_english("Qui était Margaret Hale ?"), looks_english("¿Cuándo sale el ferry?")
    (False, False)
    """
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    if sum(c.isascii() for c in letters) / len(letters) < 0.7:
        return False
    words = _WORD.findall(text.lower())
    if len(words) < 3 or any(w in _FUNCTION_WORDS for w in words):
        return True
    return not any(w in _FOREIGN_WORDS for w in words)
